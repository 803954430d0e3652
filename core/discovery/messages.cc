#include "core/discovery/messages.h"

#include <limits>
#include <utility>

namespace proglog::discovery {
namespace {

Bytes TypeByte(MsgType t) { return Bytes(1, static_cast<char>(t)); }
Bytes UserPrefix(SerfType t) {
  Bytes b(1, static_cast<char>(MsgType::kUser));
  b.push_back(static_cast<char>(t));
  return b;
}

// Parses `body` as exactly one msgpack map (trailing bytes are ignored, as Go does).
absl::StatusOr<DecodedValue> DecodeBody(std::string_view body, std::string_view what) {
  DecodedValue v;
  if (DecodeValue(body.data(), body.size(), &v) != DecodeResult::kOk) {
    return absl::InvalidArgumentError(std::string("malformed ") + std::string(what));
  }
  if (v.Root().type != msgpack::type::MAP) {
    return absl::InvalidArgumentError(std::string(what) + " is not a map");
  }
  return v;
}

absl::Status Check(const MapReader& r, std::string_view what) {
  if (r.Ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string("bad field type in ") + std::string(what));
}

// The optional Source* trailer shared by ping and indirect ping (keys sorted).
int SourceFieldCount(const Bytes& addr, uint16_t port, const std::string& node) {
  return (addr.empty() ? 0 : 1) + (node.empty() ? 0 : 1) + (port == 0 ? 0 : 1);
}
void WriteSourceFields(MsgpackWriter& w, const Bytes& addr, uint16_t port,
                       const std::string& node) {
  if (!addr.empty()) w.Raw("SourceAddr").Raw(addr);
  if (!node.empty()) w.Raw("SourceNode").Raw(node);
  if (port != 0) w.Raw("SourcePort").Uint(port);
}

}  // namespace

Bytes EncodePing(const Ping& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kPing));
  w.Map(2 + SourceFieldCount(m.source_addr, m.source_port, m.source_node));
  w.Raw("Node").Raw(m.node).Raw("SeqNo").Uint(m.seq_no);
  WriteSourceFields(w, m.source_addr, m.source_port, m.source_node);
  return w.Take();
}

Bytes EncodeIndirectPing(const IndirectPing& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kIndirectPing));
  w.Map(5 + SourceFieldCount(m.source_addr, m.source_port, m.source_node));
  w.Raw("Nack").Bool(m.nack).Raw("Node").Raw(m.node).Raw("Port").Uint(m.port);
  w.Raw("SeqNo").Uint(m.seq_no);
  WriteSourceFields(w, m.source_addr, m.source_port, m.source_node);
  w.Raw("Target").Raw(m.target);
  return w.Take();
}

Bytes EncodeAck(const Ack& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kAck)).Map(2).Raw("Payload");
  if (m.payload.empty()) {
    w.Nil();
  } else {
    w.Raw(m.payload);
  }
  w.Raw("SeqNo").Uint(m.seq_no);
  return w.Take();
}

Bytes EncodeNack(const Nack& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kNack)).Map(1).Raw("SeqNo").Uint(m.seq_no);
  return w.Take();
}

Bytes EncodeSuspect(const Suspect& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kSuspect)).Map(3);
  w.Raw("From").Raw(m.from).Raw("Incarnation").Uint(m.incarnation).Raw("Node").Raw(m.node);
  return w.Take();
}

Bytes EncodeAlive(const Alive& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kAlive)).Map(6);
  w.Raw("Addr").Raw(m.addr).Raw("Incarnation").Uint(m.incarnation).Raw("Meta").Raw(m.meta);
  w.Raw("Node").Raw(m.node).Raw("Port").Uint(m.port).Raw("Vsn").Raw(m.vsn);
  return w.Take();
}

Bytes EncodeDead(const Dead& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kDead)).Map(3);
  w.Raw("From").Raw(m.from).Raw("Incarnation").Uint(m.incarnation).Raw("Node").Raw(m.node);
  return w.Take();
}

Bytes EncodeErr(std::string_view error) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kErr)).Map(1).Raw("Error").Raw(error);
  return w.Take();
}

Bytes EncodePushPull(const PushPull& m) {
  MsgpackWriter w;
  w.Append(TypeByte(MsgType::kPushPull)).Map(3);
  w.Raw("Join").Bool(m.join).Raw("Nodes").Uint(m.nodes.size());
  w.Raw("UserStateLen").Uint(m.user_state.size());
  for (const PushNodeState& n : m.nodes) {
    w.Map(7).Raw("Addr").Raw(n.addr).Raw("Incarnation").Uint(n.incarnation);
    w.Raw("Meta").Raw(n.meta).Raw("Name").Raw(n.name).Raw("Port").Uint(n.port);
    w.Raw("State").Uint(static_cast<uint8_t>(n.state)).Raw("Vsn").Raw(n.vsn);
  }
  w.Append(m.user_state);
  return w.Take();
}

Bytes EncodeJoinIntent(const JoinIntent& m) {
  MsgpackWriter w;
  w.Append(UserPrefix(SerfType::kJoin)).Map(2).Raw("LTime").Uint(m.ltime).Raw("Node").Raw(m.node);
  return w.Take();
}

Bytes EncodeLeaveIntent(const LeaveIntent& m) {
  MsgpackWriter w;
  w.Append(UserPrefix(SerfType::kLeave)).Map(3).Raw("LTime").Uint(m.ltime);
  w.Raw("Node").Raw(m.node).Raw("Prune").Bool(m.prune);
  return w.Take();
}

Bytes EncodeQueryResponse(const QueryResponse& m) {
  MsgpackWriter w;
  w.Append(UserPrefix(SerfType::kQueryResponse)).Map(5);
  w.Raw("Flags").Uint(m.flags).Raw("From").Raw(m.from).Raw("ID").Uint(m.id);
  w.Raw("LTime").Uint(m.ltime).Raw("Payload");
  if (m.payload.empty()) {
    w.Nil();
  } else {
    w.Raw(m.payload);
  }
  return w.Take();
}

Bytes EncodeSerfPushPull(const SerfPushPull& m) {
  MsgpackWriter w;
  w.Append(Bytes(1, static_cast<char>(SerfType::kPushPull))).Map(6);
  w.Raw("EventLTime").Uint(m.event_ltime).Raw("Events").Nil().Raw("LTime").Uint(m.ltime);
  w.Raw("LeftMembers").Array(m.left_members.size());
  for (const std::string& name : m.left_members) w.Raw(name);
  w.Raw("QueryLTime").Uint(m.query_ltime);
  w.Raw("StatusLTimes").Map(m.status_ltimes.size());
  for (const auto& [name, ltime] : m.status_ltimes) w.Raw(name).Uint(ltime);
  return w.Take();
}

absl::StatusOr<Ping> DecodePing(std::string_view body) {
  auto v = DecodeBody(body, "ping");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Ping m;
  r.Uint32("SeqNo", &m.seq_no);
  r.String("Node", &m.node);
  r.String("SourceAddr", &m.source_addr);
  r.Uint16("SourcePort", &m.source_port);
  r.String("SourceNode", &m.source_node);
  if (auto s = Check(r, "ping"); !s.ok()) return s;
  return m;
}

absl::StatusOr<IndirectPing> DecodeIndirectPing(std::string_view body) {
  auto v = DecodeBody(body, "indirect ping");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  IndirectPing m;
  r.Uint32("SeqNo", &m.seq_no);
  r.String("Target", &m.target);
  r.Uint16("Port", &m.port);
  r.String("Node", &m.node);
  r.Bool("Nack", &m.nack);
  r.String("SourceAddr", &m.source_addr);
  r.Uint16("SourcePort", &m.source_port);
  r.String("SourceNode", &m.source_node);
  if (auto s = Check(r, "indirect ping"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Ack> DecodeAck(std::string_view body) {
  auto v = DecodeBody(body, "ack");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Ack m;
  r.Uint32("SeqNo", &m.seq_no);
  r.String("Payload", &m.payload);
  if (auto s = Check(r, "ack"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Nack> DecodeNack(std::string_view body) {
  auto v = DecodeBody(body, "nack");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Nack m;
  r.Uint32("SeqNo", &m.seq_no);
  if (auto s = Check(r, "nack"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Suspect> DecodeSuspect(std::string_view body) {
  auto v = DecodeBody(body, "suspect");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Suspect m;
  r.Uint32("Incarnation", &m.incarnation);
  r.String("Node", &m.node);
  r.String("From", &m.from);
  if (auto s = Check(r, "suspect"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Alive> DecodeAlive(std::string_view body) {
  auto v = DecodeBody(body, "alive");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Alive m;
  r.Uint32("Incarnation", &m.incarnation);
  r.String("Node", &m.node);
  r.String("Addr", &m.addr);
  r.Uint16("Port", &m.port);
  r.String("Meta", &m.meta);
  r.String("Vsn", &m.vsn);
  if (auto s = Check(r, "alive"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Dead> DecodeDead(std::string_view body) {
  auto v = DecodeBody(body, "dead");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Dead m;
  r.Uint32("Incarnation", &m.incarnation);
  r.String("Node", &m.node);
  r.String("From", &m.from);
  if (auto s = Check(r, "dead"); !s.ok()) return s;
  return m;
}

absl::StatusOr<JoinIntent> DecodeJoinIntent(std::string_view body) {
  auto v = DecodeBody(body, "join intent");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  JoinIntent m;
  r.Uint("LTime", std::numeric_limits<uint64_t>::max(), &m.ltime);
  r.String("Node", &m.node);
  if (auto s = Check(r, "join intent"); !s.ok()) return s;
  return m;
}

absl::StatusOr<LeaveIntent> DecodeLeaveIntent(std::string_view body) {
  auto v = DecodeBody(body, "leave intent");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  LeaveIntent m;
  r.Uint("LTime", std::numeric_limits<uint64_t>::max(), &m.ltime);
  r.String("Node", &m.node);
  r.Bool("Prune", &m.prune);
  if (auto s = Check(r, "leave intent"); !s.ok()) return s;
  return m;
}

absl::StatusOr<SerfPushPull> DecodeSerfPushPull(std::string_view body) {
  auto v = DecodeBody(body, "serf push/pull");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  SerfPushPull m;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  r.Uint("LTime", kMax, &m.ltime);
  r.Uint("EventLTime", kMax, &m.event_ltime);
  r.Uint("QueryLTime", kMax, &m.query_ltime);
  r.StringMapUint("StatusLTimes", &m.status_ltimes);
  r.StringList("LeftMembers", &m.left_members);
  if (auto s = Check(r, "serf push/pull"); !s.ok()) return s;
  return m;
}

absl::StatusOr<UserEvent> DecodeUserEvent(std::string_view body) {
  auto v = DecodeBody(body, "user event");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  UserEvent m;
  r.Uint("LTime", std::numeric_limits<uint64_t>::max(), &m.ltime);
  r.String("Name", &m.name);
  r.String("Payload", &m.payload);
  r.Bool("CC", &m.cc);
  if (auto s = Check(r, "user event"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Query> DecodeQuery(std::string_view body) {
  auto v = DecodeBody(body, "query");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  Query m;
  r.Uint("LTime", std::numeric_limits<uint64_t>::max(), &m.ltime);
  r.Uint32("ID", &m.id);
  r.String("Addr", &m.addr);
  r.Uint16("Port", &m.port);
  r.String("SourceNode", &m.source_node);
  r.Uint32("Flags", &m.flags);
  r.String("Name", &m.name);
  r.String("Payload", &m.payload);
  if (const msgpack::object* f = r.Find("Filters"); f && f->type == msgpack::type::ARRAY) {
    m.filters = f->via.array.size;
  }
  if (auto s = Check(r, "query"); !s.ok()) return s;
  return m;
}

absl::StatusOr<QueryResponse> DecodeQueryResponse(std::string_view body) {
  auto v = DecodeBody(body, "query response");
  if (!v.ok()) return v.status();
  MapReader r(v->Root());
  QueryResponse m;
  r.Uint("LTime", std::numeric_limits<uint64_t>::max(), &m.ltime);
  r.Uint32("ID", &m.id);
  r.String("From", &m.from);
  r.Uint32("Flags", &m.flags);
  r.String("Payload", &m.payload);
  if (auto s = Check(r, "query response"); !s.ok()) return s;
  return m;
}

absl::StatusOr<Relay> DecodeRelay(std::string_view body) {
  DecodedValue v;
  if (DecodeValue(body.data(), body.size(), &v) != DecodeResult::kOk ||
      v.Root().type != msgpack::type::MAP) {
    return absl::InvalidArgumentError("malformed relay header");
  }
  MapReader r(v.Root());
  Relay m;
  r.String("DestName", &m.dest_name);
  if (const msgpack::object* dest = r.Find("DestAddr")) {
    MapReader d(*dest);
    d.String("IP", &m.dest_ip);
    d.Uint16("Port", &m.dest_port);
    if (!d.Ok()) return absl::InvalidArgumentError("bad relay address");
  }
  if (auto s = Check(r, "relay"); !s.ok()) return s;
  m.inner = Bytes(body.substr(v.consumed));
  if (m.inner.empty()) return absl::InvalidArgumentError("relay without a message");
  return m;
}

Bytes EncodeTags(const std::map<std::string, std::string>& tags) {
  MsgpackWriter w;
  w.Append(Bytes(1, '\xff')).Map(tags.size());
  for (const auto& [k, val] : tags) w.Raw(k).Raw(val);
  return w.Take();
}

absl::StatusOr<std::map<std::string, std::string>> DecodeTags(std::string_view meta) {
  std::map<std::string, std::string> tags;
  if (meta.empty()) return tags;
  if (static_cast<uint8_t>(meta[0]) != 0xff) {
    tags["role"] = std::string(meta);  // the legacy form: Meta is the role
    return tags;
  }
  DecodedValue v;
  meta.remove_prefix(1);
  if (DecodeValue(meta.data(), meta.size(), &v) != DecodeResult::kOk ||
      v.Root().type != msgpack::type::MAP) {
    return absl::InvalidArgumentError("malformed tags");
  }
  const msgpack::object_map& m = v.Root().via.map;
  for (uint32_t i = 0; i < m.size; ++i) {
    std::string key, value;
    if (!ObjectToBytes(m.ptr[i].key, &key) || !ObjectToBytes(m.ptr[i].val, &value)) {
      return absl::InvalidArgumentError("tag is not a string");
    }
    tags[key] = value;
  }
  return tags;
}

}  // namespace proglog::discovery
