// proglog._proglog: the Python extension, a thin pybind11 layer over the C API
// (proglog/proglog.h). Every blocking C call runs with the GIL released; the
// Python package (proglog/__init__.py) adds context managers, iterators and the
// exception classes this module raises.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "proglog/proglog.h"

namespace py = pybind11;

namespace {

// Exception classes by C code, set once by the Python package at import.
py::dict& ErrorClasses() {
  static auto* classes = new py::dict();  // Never destroyed: lives as long as the interpreter.
  return *classes;
}

// `offsets`, for a failed batch, holds the offsets of the records it appended
// first (proglog_error_written of them); they become the exception's `written`.
[[noreturn]] void Raise(int code, proglog_error* err,
                        const std::vector<uint64_t>* offsets = nullptr) {
  std::string message = err ? proglog_error_message(err) : proglog_code_name(code);
  py::list written;
  if (offsets != nullptr && err != nullptr) {
    const size_t count = std::min(proglog_error_written(err), offsets->size());
    for (size_t i = 0; i < count; ++i) written.append((*offsets)[i]);
  }
  const bool retryable = err && proglog_error_retryable(err);
  const char* leader_c = err ? proglog_error_leader(err) : nullptr;
  py::object leader = leader_c ? py::object(py::str(leader_c)) : py::object(py::none());
  proglog_error_free(err);
  py::object cls = ErrorClasses().contains(py::int_(code)) ? ErrorClasses()[py::int_(code)]
                                                           : ErrorClasses()[py::int_(0)];
  py::object exc = cls(message, code, retryable, leader);
  exc.attr("written") = written;
  PyErr_SetObject(cls.ptr(), exc.ptr());
  throw py::error_already_set();
}

void Check(int code, proglog_error* err) {
  if (code != PROGLOG_OK) Raise(code, err);
}

std::pair<py::bytes, uint64_t> ToTuple(proglog_record* record) {
  size_t len = 0;
  const void* value = proglog_record_value(record, &len);
  std::pair<py::bytes, uint64_t> out{py::bytes(static_cast<const char*>(value), len),
                                     proglog_record_offset(record)};
  proglog_record_free(record);
  return out;
}

std::string_view View(const py::bytes& value) {
  char* data = nullptr;
  Py_ssize_t len = 0;
  PyBytes_AsStringAndSize(value.ptr(), &data, &len);
  return std::string_view(data, static_cast<size_t>(len));
}

const char* OrNull(const std::optional<std::string>& text) {
  return text ? text->c_str() : nullptr;
}

// The cluster fields of proglog_node_options (version 2), as the Python layer
// passes them; each maps to the C field of the same name.
struct ClusterArgs {
  bool cluster = false;
  std::optional<std::string> bind_addr;
  std::optional<std::string> advertise_host;
  std::vector<std::string> start_join_addrs;
  bool bootstrap = false;
  std::optional<std::string> gossip_key;
  int64_t raft_heartbeat_interval_ms = 0;
  int64_t raft_election_timeout_ms = 0;
  std::optional<std::string> peer_tls_cert_file;
  std::optional<std::string> peer_tls_key_file;
  std::optional<std::string> peer_tls_ca_file;
};

// The client TLS and ACL files of proglog_node_options (version 3).
struct SecurityArgs {
  std::optional<std::string> server_tls_cert_file;
  std::optional<std::string> server_tls_key_file;
  std::optional<std::string> server_tls_ca_file;
  std::optional<std::string> acl_model_file;
  std::optional<std::string> acl_policy_file;
};

class NodeHandle {
 public:
  NodeHandle(const std::string& data_dir, const std::optional<std::string>& name,
             const std::optional<std::string>& host, int port, uint64_t max_store_bytes,
             uint64_t max_index_bytes, uint64_t max_record_bytes,
             const std::optional<std::string>& durability, const ClusterArgs& cluster,
             const SecurityArgs& security) {
    proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
    opts.data_dir = data_dir.c_str();
    opts.node_name = OrNull(name);
    opts.rpc_host = OrNull(host);
    opts.rpc_port = port;
    opts.max_store_bytes = max_store_bytes;
    opts.max_index_bytes = max_index_bytes;
    opts.max_record_bytes = max_record_bytes;
    opts.durability = OrNull(durability);
    std::vector<const char*> join;
    for (const auto& address : cluster.start_join_addrs) join.push_back(address.c_str());
    opts.cluster = cluster.cluster ? 1 : 0;
    opts.bind_addr = OrNull(cluster.bind_addr);
    opts.advertise_host = OrNull(cluster.advertise_host);
    opts.start_join_addrs = join.data();
    opts.start_join_addr_count = join.size();
    opts.bootstrap = cluster.bootstrap ? 1 : 0;
    opts.gossip_key = OrNull(cluster.gossip_key);
    opts.raft_heartbeat_interval_ms = cluster.raft_heartbeat_interval_ms;
    opts.raft_election_timeout_ms = cluster.raft_election_timeout_ms;
    opts.peer_tls_cert_file = OrNull(cluster.peer_tls_cert_file);
    opts.peer_tls_key_file = OrNull(cluster.peer_tls_key_file);
    opts.peer_tls_ca_file = OrNull(cluster.peer_tls_ca_file);
    opts.server_tls_cert_file = OrNull(security.server_tls_cert_file);
    opts.server_tls_key_file = OrNull(security.server_tls_key_file);
    opts.server_tls_ca_file = OrNull(security.server_tls_ca_file);
    opts.acl_model_file = OrNull(security.acl_model_file);
    opts.acl_policy_file = OrNull(security.acl_policy_file);
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_open(&node_, &opts, &err);
    }
    Check(rc, err);
  }
  NodeHandle(const NodeHandle&) = delete;
  NodeHandle& operator=(const NodeHandle&) = delete;
  ~NodeHandle() {
    py::gil_scoped_release release;
    proglog_node_free(node_);
  }

  uint64_t Append(const py::bytes& value) {
    std::string_view view = View(value);
    uint64_t offset = 0;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_append(&offset, node_, view.data(), view.size(), &err);
    }
    Check(rc, err);
    return offset;
  }

  std::pair<py::bytes, uint64_t> Read(uint64_t offset) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_read(&record, node_, offset, &err);
    }
    Check(rc, err);
    return ToTuple(record);
  }

  std::string Address() const { return proglog_node_address(node_); }
  std::string GossipAddress() const { return proglog_node_gossip_address(node_); }

  void ReloadAcl() {
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_reload_acl(node_, &err);
    }
    Check(rc, err);
  }

  void Close() {
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_close(node_, &err);
    }
    Check(rc, err);
  }

 private:
  proglog_node* node_ = nullptr;
};

class SubscriptionHandle {
 public:
  explicit SubscriptionHandle(proglog_subscription* sub) : sub_(sub) {}
  SubscriptionHandle(const SubscriptionHandle&) = delete;
  SubscriptionHandle& operator=(const SubscriptionHandle&) = delete;
  ~SubscriptionHandle() { proglog_subscription_free(sub_); }

  // None when nothing arrived within the timeout, so the caller can check for
  // signals (Ctrl-C) between waits.
  std::optional<std::pair<py::bytes, uint64_t>> Next(int64_t timeout_ms) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_subscription_next(&record, sub_, timeout_ms, &err);
    }
    if (rc == PROGLOG_ETIMEOUT) {
      proglog_error_free(err);
      return std::nullopt;
    }
    Check(rc, err);
    return ToTuple(record);
  }

  void Cancel() { proglog_subscription_cancel(sub_); }

 private:
  proglog_subscription* sub_;
};

class ClientHandle {
 public:
  ClientHandle(const std::vector<std::string>& addresses, int64_t timeout_ms, int balance_policy,
               bool tls, const std::optional<std::string>& ca_file,
               const std::optional<std::string>& cert_file,
               const std::optional<std::string>& key_file,
               const std::optional<std::string>& server_name) {
    std::vector<const char*> pointers;
    for (const auto& address : addresses) pointers.push_back(address.c_str());
    proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
    opts.addresses = pointers.data();
    opts.address_count = pointers.size();
    opts.timeout_ms = timeout_ms;
    opts.balance_policy = balance_policy;
    opts.tls = tls ? 1 : 0;
    opts.tls_ca_file = OrNull(ca_file);
    opts.tls_cert_file = OrNull(cert_file);
    opts.tls_key_file = OrNull(key_file);
    opts.tls_server_name = OrNull(server_name);
    proglog_error* err = nullptr;
    // The call must set err before Check reads it (argument order is unspecified).
    const int rc = proglog_client_open(&client_, &opts, &err);
    Check(rc, err);
  }
  ClientHandle(const ClientHandle&) = delete;
  ClientHandle& operator=(const ClientHandle&) = delete;
  ~ClientHandle() {
    py::gil_scoped_release release;
    proglog_client_free(client_);
  }

  uint64_t Produce(const py::bytes& value) {
    std::string_view view = View(value);
    uint64_t offset = 0;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_client_produce(&offset, client_, view.data(), view.size(), &err);
    }
    Check(rc, err);
    return offset;
  }

  // `values` holds bytes objects only (the Python layer checks); they stay
  // referenced by the list while the GIL is released.
  std::vector<uint64_t> ProduceMany(const py::list& values) {
    const size_t count = values.size();
    std::vector<const void*> data(count);
    std::vector<size_t> lens(count);
    for (size_t i = 0; i < count; ++i) {
      std::string_view view = View(values[i].cast<py::bytes>());
      data[i] = view.data();
      lens[i] = view.size();
    }
    std::vector<uint64_t> offsets(count);
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_client_produce_batch(offsets.data(), client_, data.data(), lens.data(), count,
                                        &err);
    }
    if (rc != PROGLOG_OK) Raise(rc, err, &offsets);
    return offsets;
  }

  std::pair<py::bytes, uint64_t> Consume(uint64_t offset) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_client_consume(&record, client_, offset, &err);
    }
    Check(rc, err);
    return ToTuple(record);
  }

  std::unique_ptr<SubscriptionHandle> Subscribe(uint64_t offset) {
    proglog_subscription* sub = nullptr;
    proglog_error* err = nullptr;
    // The call must set err before Check reads it (argument order is unspecified).
    const int rc = proglog_client_subscribe(&sub, client_, offset, &err);
    Check(rc, err);
    return std::make_unique<SubscriptionHandle>(sub);
  }

  std::vector<std::tuple<std::string, std::string, bool>> Servers() {
    proglog_server_list* list = nullptr;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_client_servers(&list, client_, &err);
    }
    Check(rc, err);
    std::vector<std::tuple<std::string, std::string, bool>> out;
    for (size_t i = 0; i < proglog_server_list_count(list); ++i) {
      out.emplace_back(proglog_server_list_id(list, i), proglog_server_list_rpc_addr(list, i),
                       proglog_server_list_is_leader(list, i) != 0);
    }
    proglog_server_list_free(list);
    return out;
  }

  void Close() { proglog_client_close(client_); }

 private:
  proglog_client* client_ = nullptr;
};

}  // namespace

PYBIND11_MODULE(_proglog, m) {
  m.doc() = "Low-level bindings of the proglog C API; use the proglog package instead.";
  m.def("version", [] { return std::string(proglog_version()); });
  m.def(
      "set_error_classes", [](py::dict classes) { ErrorClasses() = std::move(classes); },
      "Registers the exception class raised for each C code (0: the fallback).");

  py::class_<ClusterArgs>(m, "ClusterArgs")
      .def(py::init<>())
      .def_readwrite("cluster", &ClusterArgs::cluster)
      .def_readwrite("bind_addr", &ClusterArgs::bind_addr)
      .def_readwrite("advertise_host", &ClusterArgs::advertise_host)
      .def_readwrite("start_join_addrs", &ClusterArgs::start_join_addrs)
      .def_readwrite("bootstrap", &ClusterArgs::bootstrap)
      .def_readwrite("gossip_key", &ClusterArgs::gossip_key)
      .def_readwrite("raft_heartbeat_interval_ms", &ClusterArgs::raft_heartbeat_interval_ms)
      .def_readwrite("raft_election_timeout_ms", &ClusterArgs::raft_election_timeout_ms)
      .def_readwrite("peer_tls_cert_file", &ClusterArgs::peer_tls_cert_file)
      .def_readwrite("peer_tls_key_file", &ClusterArgs::peer_tls_key_file)
      .def_readwrite("peer_tls_ca_file", &ClusterArgs::peer_tls_ca_file);

  py::class_<SecurityArgs>(m, "SecurityArgs")
      .def(py::init<>())
      .def_readwrite("server_tls_cert_file", &SecurityArgs::server_tls_cert_file)
      .def_readwrite("server_tls_key_file", &SecurityArgs::server_tls_key_file)
      .def_readwrite("server_tls_ca_file", &SecurityArgs::server_tls_ca_file)
      .def_readwrite("acl_model_file", &SecurityArgs::acl_model_file)
      .def_readwrite("acl_policy_file", &SecurityArgs::acl_policy_file);

  py::class_<NodeHandle>(m, "NodeHandle")
      .def(py::init<const std::string&, const std::optional<std::string>&,
                    const std::optional<std::string>&, int, uint64_t, uint64_t, uint64_t,
                    const std::optional<std::string>&, const ClusterArgs&, const SecurityArgs&>(),
           py::arg("data_dir"), py::arg("name"), py::arg("host"), py::arg("port"),
           py::arg("max_store_bytes"), py::arg("max_index_bytes"), py::arg("max_record_bytes"),
           py::arg("durability"), py::arg("cluster"), py::arg("security"))
      .def("reload_acl", &NodeHandle::ReloadAcl)
      .def("append", &NodeHandle::Append, py::arg("value"))
      .def("read", &NodeHandle::Read, py::arg("offset"))
      .def("address", &NodeHandle::Address)
      .def("gossip_address", &NodeHandle::GossipAddress)
      .def("close", &NodeHandle::Close);

  py::class_<SubscriptionHandle>(m, "SubscriptionHandle")
      .def("next", &SubscriptionHandle::Next, py::arg("timeout_ms"))
      .def("cancel", &SubscriptionHandle::Cancel);

  py::class_<ClientHandle>(m, "ClientHandle")
      .def(py::init<const std::vector<std::string>&, int64_t, int, bool,
                    const std::optional<std::string>&, const std::optional<std::string>&,
                    const std::optional<std::string>&, const std::optional<std::string>&>(),
           py::arg("addresses"), py::arg("timeout_ms"), py::arg("balance_policy"), py::arg("tls"),
           py::arg("ca_file"), py::arg("cert_file"), py::arg("key_file"), py::arg("server_name"))
      .def("produce", &ClientHandle::Produce, py::arg("value"))
      .def("produce_many", &ClientHandle::ProduceMany, py::arg("values"))
      .def("consume", &ClientHandle::Consume, py::arg("offset"))
      .def("subscribe", &ClientHandle::Subscribe, py::arg("offset"))
      .def("servers", &ClientHandle::Servers)
      .def("close", &ClientHandle::Close);
}
