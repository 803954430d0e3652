#include "server/settings.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/discovery/membership.h"
#include "core/log/index.h"
#include "yaml-cpp/yaml.h"

namespace proglog::app {
namespace {

enum class Kind { kValue, kList, kBool };

struct Spec {
  const char* key;
  Kind kind;
  const char* type_name;
  const char* group;
  const char* help;
};

constexpr char kNodeGroup[] = "Node";
constexpr char kStorageGroup[] = "Storage";
constexpr char kClusterGroup[] = "Cluster (Raft replication, gossip membership)";
constexpr char kSecurityGroup[] = "Security";
constexpr char kLoggingGroup[] = "Logging";
constexpr char kTelemetryGroup[] = "Telemetry (Prometheus metrics, OpenTelemetry traces)";

// Every serve setting. The key is the flag without dashes and the YAML key; the
// environment variable is PROGLOG_ + the key in upper case with '_' for '-'.
constexpr Spec kSpecs[] = {
    {"config-file", Kind::kValue, "FILE", kNodeGroup,
     "YAML file with any of these settings, keyed by flag name without dashes"},
    {"data-dir", Kind::kValue, "DIR", kNodeGroup,
     "Directory of the log's segments, created if missing "
     "(default: $XDG_DATA_HOME/proglog, else ~/.local/share/proglog)"},
    {"node-name", Kind::kValue, "NAME", kNodeGroup,
     "This node's id in GetServers (default: the host name)"},
    {"rpc-port", Kind::kValue, "PORT", kNodeGroup,
     "gRPC port; 0 picks a free one and logs it (default: 8400)"},
    {"bind-addr", Kind::kValue, "HOST:PORT", kClusterGroup,
     "Gossip address; its host is also the address the gRPC server listens on "
     "(default: 127.0.0.1:8401)"},
    {"start-join-addrs", Kind::kList, "HOST:PORT,...", kClusterGroup,
     "Gossip addresses of cluster members to join"},
    {"bootstrap", Kind::kBool, "", kClusterGroup,
     "Bootstrap a new cluster with this node as its first member"},
    {"compat-original-codes", Kind::kBool, "", kNodeGroup,
     "Reads outside the log fail with code 404, as the original proglog's do, instead of "
     "OUT_OF_RANGE (for clients that test for 404)"},
    {"advertise-host", Kind::kValue, "HOST", kClusterGroup,
     "Host other nodes and clients use to reach this node's RPC port; required when bind-addr "
     "is a wildcard (default: the host of bind-addr)"},
    {"raft-heartbeat-interval", Kind::kValue, "DURATION", kClusterGroup,
     "Time between a Raft leader's heartbeats, e.g. 50ms (default: 50ms)"},
    {"raft-election-timeout", Kind::kValue, "DURATION", kClusterGroup,
     "A follower that hears no leader for this long (randomized up to twice it) starts an "
     "election, e.g. 500ms; at least twice the heartbeat interval (default: 500ms)"},
    {"gossip-key", Kind::kValue, "BASE64", kClusterGroup,
     "Shared gossip encryption key (16, 24 or 32 bytes in base64, as `serf keygen` prints); "
     "members without it are not admitted"},
    {"acl-model-file", Kind::kValue, "FILE", kSecurityGroup, "Casbin ACL model"},
    {"acl-policy-file", Kind::kValue, "FILE", kSecurityGroup, "Casbin ACL policy"},
    {"server-tls-cert-file", Kind::kValue, "FILE", kSecurityGroup, "Certificate served to clients"},
    {"server-tls-key-file", Kind::kValue, "FILE", kSecurityGroup, "Key of that certificate"},
    {"server-tls-ca-file", Kind::kValue, "FILE", kSecurityGroup,
     "CA that client certificates must chain to"},
    {"peer-tls-cert-file", Kind::kValue, "FILE", kSecurityGroup,
     "Certificate this node presents to peers"},
    {"peer-tls-key-file", Kind::kValue, "FILE", kSecurityGroup, "Key of that certificate"},
    {"peer-tls-ca-file", Kind::kValue, "FILE", kSecurityGroup, "CA of the peers' certificates"},
    {"fsync", Kind::kValue, "always|interval:MS|never", kStorageGroup,
     "When appends reach the disk: always (a produce returns once fsynced; concurrent "
     "produces share one fsync), interval:MS (fsync every MS ms), never (the OS decides) "
     "(default: always)"},
    {"segment-max-store-bytes", Kind::kValue, "SIZE", kStorageGroup,
     "A segment rolls when its store file would pass this size (default: 64MiB)"},
    {"segment-max-index-bytes", Kind::kValue, "SIZE", kStorageGroup,
     "A segment rolls when its index file would pass this size (default: 1MiB)"},
    {"max-record-bytes", Kind::kValue, "SIZE", kStorageGroup,
     "Largest record value accepted; larger produces get INVALID_ARGUMENT (default: 1MiB)"},
    {"retention-bytes", Kind::kValue, "SIZE", kStorageGroup,
     "Remove the oldest whole segments while the log is larger; 0 keeps all (default: 0)"},
    {"retention-age", Kind::kValue, "DURATION", kStorageGroup,
     "Remove whole segments whose newest record is older, e.g. 90s, 12h, 7d; 0 keeps all "
     "(default: 0)"},
    {"retention-check-interval", Kind::kValue, "DURATION", kStorageGroup,
     "How often the retention limits are applied, e.g. 500ms, 10s (default: 10s)"},
    {"log-format", Kind::kValue, "text|json", kLoggingGroup,
     "Format of the log lines on stderr (default: text)"},
    {"log-level", Kind::kValue, "LEVEL", kLoggingGroup,
     "trace, debug, info, warn, error, critical or off (default: info)"},
    {"metrics-addr", Kind::kValue, "HOST:PORT", kTelemetryGroup,
     "Serve Prometheus metrics on http://HOST:PORT/metrics, with /healthz and /readyz probes "
     "(default: off)"},
    {"otel-exporter-otlp-endpoint", Kind::kValue, "URL", kTelemetryGroup,
     "OTLP/HTTP collector base URL; traces go to URL/v1/traces as OTLP JSON (default: "
     "$OTEL_EXPORTER_OTLP_ENDPOINT; unset: no tracing)"},
    {"otel-exporter-otlp-traces-endpoint", Kind::kValue, "URL", kTelemetryGroup,
     "Full OTLP/HTTP traces URL, overriding the base endpoint (default: "
     "$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"},
    {"otel-service-name", Kind::kValue, "NAME", kTelemetryGroup,
     "service.name of the spans (default: $OTEL_SERVICE_NAME, else proglog)"},
    {"otel-traces-sampler", Kind::kValue, "SAMPLER", kTelemetryGroup,
     "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or "
     "parentbased_traceidratio (default: $OTEL_TRACES_SAMPLER, else parentbased_always_on)"},
    {"otel-traces-sampler-arg", Kind::kValue, "RATIO", kTelemetryGroup,
     "Sampling probability for the ratio samplers, 0..1 (default: $OTEL_TRACES_SAMPLER_ARG, "
     "else 1)"},
};

std::string EnvName(absl::string_view key) {
  std::string name = absl::StrCat("PROGLOG_", key);
  for (char& c : name) c = c == '-' ? '_' : absl::ascii_toupper(c);
  return name;
}

// A setting's text and where it came from, for error messages.
struct RawValue {
  std::string text;
  std::string origin;
};

using RawValues = std::map<std::string, RawValue, std::less<>>;

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

absl::Status LoadConfigFile(const std::string& path, RawValues& out) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot be read"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();  // an empty file sets nothing
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": want a mapping of setting names to values"));
  }
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>("");
    const Spec* spec = nullptr;
    for (const Spec& s : kSpecs) {
      if (key == s.key) spec = &s;
    }
    if (spec == nullptr || key == "config-file") {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path, ": unknown setting \"", key, "\""));
    }
    const std::string origin = absl::StrCat("config file ", path, " key ", key);
    const YAML::Node& value = entry.second;
    if (value.IsScalar()) {
      out[key] = {value.Scalar(), origin};
    } else if (value.IsSequence() && spec->kind == Kind::kList) {
      std::vector<std::string> items;
      for (const auto& item : value) items.push_back(item.as<std::string>(""));
      out[key] = {absl::StrJoin(items, ","), origin};
    } else if (!value.IsNull()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": want a single value, not a ",
                                                     value.IsMap() ? "mapping" : "list"));
    }
  }
  return absl::OkStatus();
}

absl::Status BadValue(absl::string_view key, const RawValue& raw, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid value \"", raw.text, "\" for ", key,
                                                 " (from ", raw.origin, "): ", why));
}

absl::StatusOr<int> ParsePort(absl::string_view text) {
  int port = 0;
  if (!absl::SimpleAtoi(text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError("want a port number from 0 to 65535");
  }
  return port;
}

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return absl::InvalidArgumentError("want true or false");
}

// "host:port" (or "[v6]:port") split into its parts; the port is validated.
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError("want HOST:PORT");
  }
  absl::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  absl::StatusOr<int> port = ParsePort(text.substr(colon + 1));
  if (!port.ok()) return port.status();
  return std::make_pair(std::string(host), *port);
}

std::string DefaultDataDir() {
  if (auto xdg = GetEnv("XDG_DATA_HOME"); xdg && !xdg->empty()) return *xdg + "/proglog";
  if (auto home = GetEnv("HOME"); home && !home->empty()) return *home + "/.local/share/proglog";
  return "proglog-data";
}

// Looks up a resolved setting; every key has a value after defaults are applied.
const RawValue& Get(const RawValues& raw, absl::string_view key) { return raw.find(key)->second; }

absl::Status ApplyStorage(const RawValues& raw, log::Options& options) {
  struct SizeSetting {
    const char* key;
    uint64_t* out;
    bool may_be_zero;
  };
  const SizeSetting sizes[] = {
      {"segment-max-store-bytes", &options.max_store_bytes, false},
      {"segment-max-index-bytes", &options.max_index_bytes, false},
      {"max-record-bytes", &options.max_record_bytes, false},
      {"retention-bytes", &options.retention_bytes, true},
  };
  for (const SizeSetting& size : sizes) {
    absl::StatusOr<uint64_t> bytes = ParseByteSize(Get(raw, size.key).text);
    if (!bytes.ok()) return BadValue(size.key, Get(raw, size.key), bytes.status().message());
    if (*bytes == 0 && !size.may_be_zero) {
      return BadValue(size.key, Get(raw, size.key), "must be greater than 0");
    }
    *size.out = *bytes;
  }
  if (options.max_index_bytes < log::internal::Index::kEntryBytes) {
    return BadValue("segment-max-index-bytes", Get(raw, "segment-max-index-bytes"),
                    absl::StrCat("must hold at least one index entry (",
                                 log::internal::Index::kEntryBytes, " bytes)"));
  }
  absl::StatusOr<log::Durability> durability = log::Durability::Parse(Get(raw, "fsync").text);
  if (!durability.ok()) {
    return BadValue("fsync", Get(raw, "fsync"), "want always, never or interval:<ms> with ms > 0");
  }
  options.durability = *durability;
  absl::StatusOr<std::chrono::seconds> age = ParseAge(Get(raw, "retention-age").text);
  if (!age.ok()) {
    return BadValue("retention-age", Get(raw, "retention-age"), age.status().message());
  }
  options.retention_age = *age;
  return absl::OkStatus();
}

absl::Status ApplyRetentionInterval(const RawValues& raw, node::Config& config) {
  const RawValue& text = Get(raw, "retention-check-interval");
  absl::StatusOr<std::chrono::milliseconds> interval = ParseDurationSetting(text.text);
  if (!interval.ok()) {
    return BadValue("retention-check-interval", text, interval.status().message());
  }
  if (interval->count() <= 0) return BadValue("retention-check-interval", text, "must be positive");
  config.retention_interval = *interval;
  return absl::OkStatus();
}

absl::Status ApplyNode(const RawValues& raw, ServeSettings& settings) {
  settings.node.data_dir = Get(raw, "data-dir").text;
  if (settings.node.data_dir.empty()) {
    return BadValue("data-dir", Get(raw, "data-dir"), "must not be empty");
  }
  settings.node.node_name = Get(raw, "node-name").text;
  if (settings.node.node_name.empty()) {
    return BadValue("node-name", Get(raw, "node-name"), "must not be empty");
  }
  absl::StatusOr<int> port = ParsePort(Get(raw, "rpc-port").text);
  if (!port.ok()) return BadValue("rpc-port", Get(raw, "rpc-port"), port.status().message());
  settings.node.rpc_port = *port;
  settings.bind_addr = Get(raw, "bind-addr").text;
  auto bind = ParseHostPort(settings.bind_addr);
  if (!bind.ok()) return BadValue("bind-addr", Get(raw, "bind-addr"), bind.status().message());
  // As in the original, the RPC server listens on the gossip address's host.
  settings.node.rpc_host = bind->first;
  for (absl::string_view addr :
       absl::StrSplit(Get(raw, "start-join-addrs").text, ',', absl::SkipWhitespace())) {
    auto join = ParseHostPort(absl::StripAsciiWhitespace(addr));
    if (!join.ok()) {
      return BadValue("start-join-addrs", Get(raw, "start-join-addrs"),
                      absl::StrCat("\"", addr, "\": ", join.status().message()));
    }
    settings.start_join_addrs.emplace_back(absl::StripAsciiWhitespace(addr));
  }
  absl::StatusOr<bool> bootstrap = ParseBool(Get(raw, "bootstrap").text);
  if (!bootstrap.ok()) {
    return BadValue("bootstrap", Get(raw, "bootstrap"), bootstrap.status().message());
  }
  settings.bootstrap = *bootstrap;
  absl::StatusOr<bool> compat = ParseBool(Get(raw, "compat-original-codes").text);
  if (!compat.ok()) {
    return BadValue("compat-original-codes", Get(raw, "compat-original-codes"),
                    compat.status().message());
  }
  settings.node.compat_original_codes = *compat;
  settings.advertise_host = Get(raw, "advertise-host").text;
  for (const char* key : {"raft-heartbeat-interval", "raft-election-timeout"}) {
    const RawValue& text = Get(raw, key);
    if (text.text.empty()) continue;  // the library default
    absl::StatusOr<std::chrono::milliseconds> value = ParseDurationSetting(text.text);
    if (!value.ok()) return BadValue(key, text, value.status().message());
    if (value->count() <= 0) return BadValue(key, text, "must be positive");
    (std::string_view(key) == "raft-heartbeat-interval" ? settings.raft_heartbeat_interval
                                                        : settings.raft_election_timeout) = *value;
  }
  // The node checks this too, but only after it has made the data dir, and
  // without knowing where the values came from.
  const node::ClusterConfig defaults;
  const auto heartbeat = settings.raft_heartbeat_interval.value_or(defaults.heartbeat_interval);
  const auto election = settings.raft_election_timeout.value_or(defaults.election_timeout);
  if (election < 2 * heartbeat) {
    const RawValue& heartbeat_raw = Get(raw, "raft-heartbeat-interval");
    const RawValue& election_raw = Get(raw, "raft-election-timeout");
    if (election_raw.text.empty()) {  // the default election timeout: the heartbeat is at fault
      return BadValue("raft-heartbeat-interval", heartbeat_raw,
                      absl::StrCat("must be at most half raft-election-timeout (", election.count(),
                                   "ms, the default)"));
    }
    return BadValue("raft-election-timeout", election_raw,
                    absl::StrCat("must be at least twice raft-heartbeat-interval (",
                                 heartbeat.count(), "ms, from ", heartbeat_raw.origin, ")"));
  }
  if (const RawValue& key = Get(raw, "gossip-key"); !key.text.empty()) {
    absl::StatusOr<std::string> raw_key = discovery::ParseGossipKey(key.text);
    // The message must not echo the key itself.
    if (!raw_key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid value for gossip-key (from ", key.origin, "): ", raw_key.status().message()));
    }
    settings.gossip_key = *std::move(raw_key);
  }
  return absl::OkStatus();
}

// The standard OTEL_* environment variables first, then our settings (flag,
// PROGLOG_* environment or config file), which override them.
absl::Status ResolveTelemetry(const RawValues& raw, telemetry::Settings* out) {
  out->metrics_addr = Get(raw, "metrics-addr").text;
  telemetry::TracingConfig& tracing = out->tracing;
  if (absl::Status status = telemetry::ApplyOtelEnvironment(&tracing); !status.ok()) {
    return status;
  }
  if (const RawValue& base = Get(raw, "otel-exporter-otlp-endpoint"); !base.text.empty()) {
    tracing.traces_endpoint = telemetry::TracesUrlFromBase(base.text);
  }
  if (const RawValue& url = Get(raw, "otel-exporter-otlp-traces-endpoint"); !url.text.empty()) {
    tracing.traces_endpoint = url.text;
  }
  if (const RawValue& name = Get(raw, "otel-service-name"); !name.text.empty()) {
    tracing.service_name = name.text;
  }
  if (const RawValue& sampler = Get(raw, "otel-traces-sampler"); !sampler.text.empty()) {
    absl::StatusOr<telemetry::SamplerKind> kind = telemetry::ParseSamplerKind(sampler.text);
    if (!kind.ok()) return BadValue("otel-traces-sampler", sampler, kind.status().message());
    tracing.sampler = *kind;
  }
  if (const RawValue& arg = Get(raw, "otel-traces-sampler-arg"); !arg.text.empty()) {
    double ratio = 0;
    if (!absl::SimpleAtod(arg.text, &ratio) || ratio < 0 || ratio > 1) {
      return BadValue("otel-traces-sampler-arg", arg, "want a probability from 0 to 1");
    }
    tracing.sampler_ratio = ratio;
  }
  return absl::OkStatus();
}

// A file setting names a readable regular file, or is unset. Whether its
// contents parse is the node's check (it names the file).
absl::Status CheckReadableFile(absl::string_view key, const RawValue& raw) {
  if (raw.text.empty()) return absl::OkStatus();
  std::error_code error;
  if (!std::filesystem::is_regular_file(raw.text, error)) {
    return BadValue(
        key, raw, std::filesystem::exists(raw.text, error) ? "not a regular file" : "no such file");
  }
  if (::access(raw.text.c_str(), R_OK) != 0) {
    return BadValue(key, raw, absl::StrCat("cannot read it: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ApplySecurityAndLogging(const RawValues& raw, ServeSettings& settings) {
  node::SecurityConfig& security = settings.node.security;
  security.acl_model_file = Get(raw, "acl-model-file").text;
  security.acl_policy_file = Get(raw, "acl-policy-file").text;
  security.server_tls_cert_file = Get(raw, "server-tls-cert-file").text;
  security.server_tls_key_file = Get(raw, "server-tls-key-file").text;
  security.server_tls_ca_file = Get(raw, "server-tls-ca-file").text;
  settings.peer_tls = {Get(raw, "peer-tls-cert-file").text, Get(raw, "peer-tls-key-file").text,
                       Get(raw, "peer-tls-ca-file").text};
  for (const char* key :
       {"server-tls-cert-file", "server-tls-key-file", "server-tls-ca-file", "peer-tls-cert-file",
        "peer-tls-key-file", "peer-tls-ca-file", "acl-model-file", "acl-policy-file"}) {
    if (absl::Status status = CheckReadableFile(key, Get(raw, key)); !status.ok()) return status;
  }
  if (const RawValue& metrics = Get(raw, "metrics-addr"); !metrics.text.empty()) {
    if (auto parsed = ParseHostPort(metrics.text); !parsed.ok()) {
      return BadValue("metrics-addr", metrics, parsed.status().message());
    }
  }
  const RawValue& format = Get(raw, "log-format");
  if (format.text == "text") {
    settings.log_format = LogFormat::kText;
  } else if (format.text == "json") {
    settings.log_format = LogFormat::kJson;
  } else {
    return BadValue("log-format", format, "want text or json");
  }
  settings.log_level = Get(raw, "log-level").text;
  if (spdlog::level::from_str(settings.log_level) == spdlog::level::off &&
      settings.log_level != "off") {
    return BadValue("log-level", Get(raw, "log-level"),
                    "want trace, debug, info, warn, error, critical or off");
  }
  return ResolveTelemetry(raw, &settings.node.telemetry);
}

}  // namespace

void ServeFlags::Register(CLI::App& app) {
  for (const Spec& spec : kSpecs) {
    Flag& flag = flags_[spec.key];
    const std::string name = absl::StrCat("--", spec.key);
    const std::string help = absl::StrCat(spec.help, " [env ", EnvName(spec.key), "]");
    switch (spec.kind) {
      case Kind::kBool:
        flag.option = app.add_flag(name, flag.set, help);
        break;
      case Kind::kList:
        flag.option = app.add_option(name, flag.values, help)
                          ->delimiter(',')
                          ->allow_extra_args(false)
                          ->type_name(spec.type_name);
        break;
      case Kind::kValue:
        flag.option = app.add_option(name, flag.value, help)->type_name(spec.type_name);
        break;
    }
    flag.option->group(spec.group);
  }
}

bool ServeFlags::AnyGiven() const {
  for (const auto& [key, flag] : flags_) {
    if (flag.option->count() > 0) return true;
  }
  return false;
}

absl::StatusOr<ServeSettings> ServeFlags::Resolve() const {
  RawValues raw = {
      {"data-dir", {DefaultDataDir(), "default"}},
      {"node-name", {node::DefaultNodeName(), "default"}},
      {"rpc-port", {"8400", "default"}},
      {"bind-addr", {"127.0.0.1:8401", "default"}},
      {"bootstrap", {"false", "default"}},
      {"compat-original-codes", {"false", "default"}},
      {"fsync", {"always", "default"}},
      {"segment-max-store-bytes", {"64MiB", "default"}},
      {"segment-max-index-bytes", {"1MiB", "default"}},
      {"max-record-bytes", {"1MiB", "default"}},
      {"retention-bytes", {"0", "default"}},
      {"retention-age", {"0", "default"}},
      {"retention-check-interval", {"10s", "default"}},
      {"log-format", {"text", "default"}},
      {"log-level", {"info", "default"}},
  };
  for (const Spec& spec : kSpecs) raw.try_emplace(spec.key, RawValue{"", "default"});

  // The config file is named by flag or environment only, then read first so
  // that the environment and flags override it.
  std::string config_file;
  if (const Flag& flag = flags_.find("config-file")->second; flag.option->count() > 0) {
    config_file = flag.value;
  } else if (auto env = GetEnv(EnvName("config-file"))) {
    config_file = *env;
  }
  if (!config_file.empty()) {
    if (absl::Status status = LoadConfigFile(config_file, raw); !status.ok()) return status;
  }
  for (const Spec& spec : kSpecs) {
    const std::string env_name = EnvName(spec.key);
    if (auto env = GetEnv(env_name)) raw[spec.key] = {*env, absl::StrCat("environment ", env_name)};
    const Flag& flag = flags_.find(spec.key)->second;
    if (flag.option->count() == 0) continue;
    const std::string origin = absl::StrCat("flag --", spec.key);
    switch (spec.kind) {
      case Kind::kBool:
        raw[spec.key] = {flag.set ? "true" : "false", origin};
        break;
      case Kind::kList:
        raw[spec.key] = {absl::StrJoin(flag.values, ","), origin};
        break;
      case Kind::kValue:
        raw[spec.key] = {flag.value, origin};
        break;
    }
  }

  ServeSettings settings;
  settings.config_file = config_file;
  if (absl::Status status = ApplyNode(raw, settings); !status.ok()) return status;
  if (absl::Status status = ApplyStorage(raw, settings.node.log); !status.ok()) return status;
  if (absl::Status status = ApplyRetentionInterval(raw, settings.node); !status.ok()) {
    return status;
  }
  if (absl::Status status = ApplySecurityAndLogging(raw, settings); !status.ok()) return status;
  return settings;
}

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(text[digits])) ++digits;
  uint64_t number = 0;
  if (digits == 0 || !absl::SimpleAtoi(text.substr(0, digits), &number)) {
    return absl::InvalidArgumentError("want a byte count such as 1048576, 512KiB, 64MiB or 1GiB");
  }
  const absl::string_view suffix = text.substr(digits);
  int shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "KiB") {
    shift = 10;
  } else if (suffix == "MiB") {
    shift = 20;
  } else if (suffix == "GiB") {
    shift = 30;
  } else if (suffix == "TiB") {
    shift = 40;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown unit \"", suffix, "\" (want B, KiB, MiB, GiB or TiB)"));
  }
  if (number > (std::numeric_limits<uint64_t>::max() >> shift)) {
    return absl::InvalidArgumentError("too large");
  }
  return number << shift;
}

absl::StatusOr<std::chrono::milliseconds> ParseDurationSetting(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  int64_t number = 0;
  absl::Duration duration;
  if (absl::SimpleAtoi(text, &number)) {
    duration = absl::Seconds(number);
  } else if (text.size() > 1 && text.back() == 'd' &&
             absl::SimpleAtoi(text.substr(0, text.size() - 1), &number)) {
    duration = absl::Hours(24) * number;
  } else if (!absl::ParseDuration(text, &duration)) {
    return absl::InvalidArgumentError("want a duration such as 3600, 500ms, 90s, 30m, 12h or 7d");
  }
  if (duration < absl::ZeroDuration()) return absl::InvalidArgumentError("must not be negative");
  if (duration == absl::InfiniteDuration()) return absl::InvalidArgumentError("must be finite");
  return absl::ToChronoMilliseconds(duration);
}

absl::StatusOr<std::chrono::seconds> ParseAge(absl::string_view text) {
  absl::StatusOr<std::chrono::milliseconds> duration = ParseDurationSetting(text);
  if (!duration.ok()) return duration.status();
  return std::chrono::duration_cast<std::chrono::seconds>(*duration);
}

}  // namespace proglog::app
