#include "server/client_commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/client/client.h"
#include "core/discovery/membership.h"
#include "nlohmann/json.hpp"
#include "server/serve.h"

namespace proglog::app {
namespace {

constexpr char kDefaultAddr[] = "127.0.0.1:8400";
// Lines read from a pipe are sent in batches over one ProduceStream.
constexpr size_t kStdinBatch = 256;

void AddClientFlags(CLI::App& command, ClientFlags& flags) {
  command
      .add_option("--addr", flags.addr,
                  "Any server(s) of the cluster, comma-separated; the rest is learned "
                  "from them (default: 127.0.0.1:8400) [env PROGLOG_ADDR]")
      ->type_name("HOST:PORT[,...]");
  command.add_option("--timeout", flags.timeout, "Deadline of each call, e.g. 500ms, 10s; 0: none")
      ->capture_default_str()
      ->type_name("DURATION");
  command
      .add_option("--read-from", flags.read_from,
                  "Which servers serve reads; 'pinned': every call goes to --addr only "
                  "(no discovery, redirects reported), to talk to one particular node")
      ->capture_default_str()
      ->check(CLI::IsMember({"followers", "leader", "pinned"}));
  command
      .add_option("--attempts", flags.attempts,
                  "Attempts per call when servers are unreachable or the leader changes")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  command
      .add_option("--refresh-interval", flags.refresh_interval,
                  "How often the cluster's server list is refreshed; 0: only after failures")
      ->capture_default_str()
      ->type_name("DURATION");
  command.add_option("--format", flags.format, "Output format")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  command
      .add_option("--tls-ca-file", flags.tls_ca_file,
                  "CA that the server certificate must chain to")
      ->envname("PROGLOG_TLS_CA_FILE")
      ->type_name("FILE")
      ->group("TLS (any of these turns TLS on)");
  command
      .add_option("--tls-cert-file", flags.tls_cert_file,
                  "Client certificate presented to the server (with --tls-key-file)")
      ->envname("PROGLOG_TLS_CERT_FILE")
      ->type_name("FILE")
      ->group("TLS (any of these turns TLS on)");
  command.add_option("--tls-key-file", flags.tls_key_file, "Key of the client certificate")
      ->envname("PROGLOG_TLS_KEY_FILE")
      ->type_name("FILE")
      ->group("TLS (any of these turns TLS on)");
  command
      .add_option("--tls-server-name", flags.tls_server_name,
                  "Name to check in the server certificate instead of the dialed host")
      ->envname("PROGLOG_TLS_SERVER_NAME")
      ->type_name("NAME")
      ->group("TLS (any of these turns TLS on)");
}

// "10s", "500ms" or a number of seconds; InvalidArgument naming the flag otherwise.
absl::StatusOr<absl::Duration> ParseDurationFlag(const char* flag, const std::string& text) {
  absl::Duration timeout;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    timeout = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &timeout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", flag, " \"", text, "\": want a duration such as 10s"));
  }
  if (timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " must not be negative"));
  }
  return timeout;
}

// Reports a failed call; the exit code is 1, as the command line itself was fine.
int Fail(absl::string_view command, const absl::Status& status) {
  std::cerr << "proglog " << command << ": " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kExitFailure;
}

// Reports client options that cannot work (bad --addr or --timeout): a usage error.
int FailToOpen(absl::string_view command, const absl::Status& status) {
  Fail(command, status);
  return absl::IsInvalidArgument(status) ? kExitUsage : kExitFailure;
}

absl::StatusOr<std::unique_ptr<client::Client>> OpenClient(const ClientFlags& flags) {
  client::Options options;
  std::string addr = flags.addr;
  if (addr.empty()) {
    const char* env = std::getenv("PROGLOG_ADDR");
    addr = env != nullptr && *env != '\0' ? env : kDefaultAddr;
  }
  options.addresses = absl::StrSplit(addr, ',', absl::SkipWhitespace());
  absl::StatusOr<absl::Duration> timeout = ParseDurationFlag("--timeout", flags.timeout);
  if (!timeout.ok()) return timeout.status();
  options.call_timeout = absl::ToChronoMilliseconds(*timeout);
  absl::StatusOr<absl::Duration> refresh =
      ParseDurationFlag("--refresh-interval", flags.refresh_interval);
  if (!refresh.ok()) return refresh.status();
  options.refresh_interval = absl::ToChronoMilliseconds(*refresh);
  options.retry.max_attempts = flags.attempts;
  options.policy = flags.read_from == "leader"   ? client::BalancePolicy::kLeader
                   : flags.read_from == "pinned" ? client::BalancePolicy::kPinned
                                                 : client::BalancePolicy::kFollowerReads;
  options.tls.ca_file = flags.tls_ca_file;
  options.tls.cert_file = flags.tls_cert_file;
  options.tls.key_file = flags.tls_key_file;
  options.tls.server_name = flags.tls_server_name;
  options.tls.enabled = !flags.tls_ca_file.empty() || !flags.tls_cert_file.empty() ||
                        !flags.tls_key_file.empty() || !flags.tls_server_name.empty();
  return client::Client::Open(std::move(options));
}

void PrintOffsets(const std::vector<uint64_t>& offsets, bool json) {
  for (uint64_t offset : offsets) {
    if (json) {
      std::cout << nlohmann::json{{"offset", offset}}.dump() << "\n";
    } else {
      std::cout << offset << "\n";
    }
  }
  std::cout.flush();
}

// Sends `values` in one batch and prints their offsets, one per line. Every
// value is checked before any is sent; if the server fails the batch after
// appending some, their offsets are printed all the same, so whoever retries
// knows what not to send again.
absl::Status ProduceAndPrint(client::Client& client, const std::vector<std::string>& values,
                             bool json) {
  absl::StatusOr<std::vector<uint64_t>> offsets;
  if (values.size() == 1) {
    // One record needs no stream: a unary Produce is one round trip.
    absl::StatusOr<uint64_t> offset = client.Produce(values.front());
    if (!offset.ok()) return offset.status();
    offsets = std::vector<uint64_t>{*offset};
  } else {
    std::vector<std::string_view> views(values.begin(), values.end());
    offsets = client.ProduceBatch(views);
    if (!offsets.ok()) {
      PrintOffsets(client::WrittenOffsets(offsets.status()), json);
      return offsets.status();
    }
  }
  PrintOffsets(*offsets, json);
  return absl::OkStatus();
}

// Produces each line of stdin; a terminal gets an offset per line as it is typed.
absl::Status ProduceStdin(client::Client& client, bool json) {
  const bool interactive = isatty(STDIN_FILENO) != 0;
  std::vector<std::string> batch;
  std::string line;
  while (std::getline(std::cin, line)) {
    batch.push_back(std::move(line));
    if (interactive || batch.size() >= kStdinBatch) {
      if (absl::Status status = ProduceAndPrint(client, batch, json); !status.ok()) return status;
      batch.clear();
    }
  }
  if (batch.empty()) return absl::OkStatus();
  return ProduceAndPrint(client, batch, json);
}

void PrintRecord(const client::Record& record, bool json) {
  if (json) {
    const nlohmann::json line = {{"offset", record.offset}, {"value", record.value}};
    // Values are bytes; invalid UTF-8 is shown with replacement characters.
    std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << record.value << "\n";
  }
}

// Prints records from `offset` until the end of the log or `count` records,
// read over one stream.
absl::Status ConsumeToEnd(client::Client& client, const ConsumeFlags& flags, bool json) {
  absl::StatusOr<uint64_t> read =
      client.ConsumeToEnd(flags.offset, flags.count,
                          [json](const client::Record& record) { PrintRecord(record, json); });
  std::cout.flush();
  return read.status();
}

// A non-negative integer that fits in 64 bits, for --offset and --count; CLI11
// alone would wrap "-1" and saturate overflows.
uint64_t ParseCount(const std::string& flag, const std::string& text) {
  uint64_t value = 0;
  if (text.empty() || text[0] == '-' || text[0] == '+' || !absl::SimpleAtoi(text, &value)) {
    throw CLI::ValidationError(
        flag, absl::StrCat("\"", text, "\" is not a whole number from 0 to 18446744073709551615"));
  }
  return value;
}

// Prints records from `offset` as they arrive, until `count` records or an error.
absl::Status Follow(client::Client& client, const ConsumeFlags& flags, bool json) {
  absl::StatusOr<std::unique_ptr<client::Subscription>> subscription =
      client.Subscribe(flags.offset);
  if (!subscription.ok()) return subscription.status();
  for (uint64_t printed = 0; flags.count == 0 || printed < flags.count;) {
    absl::StatusOr<client::Record> record = (*subscription)->Next(std::chrono::seconds(1));
    if (absl::IsDeadlineExceeded(record.status())) continue;  // idle tail; keep waiting
    if (!record.ok()) return record.status();
    PrintRecord(*record, json);
    std::cout.flush();
    ++printed;
  }
  (*subscription)->Cancel();
  return absl::OkStatus();
}

std::string TagsText(const std::map<std::string, std::string>& tags) {
  return absl::StrJoin(tags, ",", absl::PairFormatter("="));
}

void PrintMembers(const std::vector<discovery::Member>& members, bool json) {
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const discovery::Member& member : members) {
      list.push_back({{"name", member.name},
                      {"address", member.address},
                      {"status", discovery::MemberStatusName(member.status)},
                      {"tags", member.tags}});
    }
    std::cout << list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  for (const discovery::Member& member : members) {
    std::cout << member.name << "\t" << member.address << "\t"
              << discovery::MemberStatusName(member.status) << "\t" << TagsText(member.tags)
              << "\n";
  }
}

}  // namespace

CLI::App* AddProduceCommand(CLI::App& app, ProduceFlags& flags) {
  CLI::App* command = app.add_subcommand(
      "produce",
      "Append records and print their offsets, one per line. Values come from the "
      "arguments, or from the lines of stdin when there are none (or just \"-\").");
  AddClientFlags(*command, flags.client);
  command->add_option("values", flags.values, "Record values");
  return command;
}

CLI::App* AddConsumeCommand(CLI::App& app, ConsumeFlags& flags) {
  CLI::App* command =
      app.add_subcommand("consume",
                         "Print records from an offset to the end of the log, one value per line "
                         "(text) or one JSON object with offset and value per line (json).");
  AddClientFlags(*command, flags.client);
  command
      ->add_option_function<std::string>(
          "--offset",
          [&flags](const std::string& text) { flags.offset = ParseCount("--offset", text); },
          "First offset to print (default: 0)")
      ->type_name("UINT");
  command
      ->add_option_function<std::string>(
          "--count",
          [&flags](const std::string& text) { flags.count = ParseCount("--count", text); },
          "Stop after this many records; 0: no limit (default: 0)")
      ->type_name("UINT");
  command->add_flag("--follow,-f", flags.follow,
                    "At the end, keep waiting for new records (until Ctrl-C or --count)");
  return command;
}

CLI::App* AddServersCommand(CLI::App& app, ServersFlags& flags) {
  CLI::App* command =
      app.add_subcommand("servers", "List the cluster's servers: id, RPC address, role.");
  AddClientFlags(*command, flags.client);
  return command;
}

CLI::App* AddMembersCommand(CLI::App& app, MembersFlags& flags) {
  CLI::App* command = app.add_subcommand(
      "members",
      "List the gossip cluster's members as one member sees them: name, gossip address, "
      "status, tags. Works against a proglog node or a serf agent; read-only (the member "
      "asked does not add this command to its cluster).");
  command->add_option("--addr", flags.addr, "Gossip address of any member")
      ->capture_default_str()
      ->type_name("HOST:PORT");
  command
      ->add_option("--gossip-key", flags.gossip_key, "Gossip key (base64) if the cluster uses one")
      ->envname("PROGLOG_GOSSIP_KEY")
      ->type_name("BASE64");
  command->add_option("--timeout", flags.timeout, "Deadline of the request, e.g. 500ms, 5s")
      ->capture_default_str()
      ->type_name("DURATION");
  command->add_option("--format", flags.format, "Output format")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  return command;
}

int RunProduce(const ProduceFlags& flags) {
  absl::StatusOr<std::unique_ptr<client::Client>> client = OpenClient(flags.client);
  if (!client.ok()) return FailToOpen("produce", client.status());
  const bool json = flags.client.format == "json";
  const bool from_stdin =
      flags.values.empty() || (flags.values.size() == 1 && flags.values[0] == "-");
  absl::Status status =
      from_stdin ? ProduceStdin(**client, json) : ProduceAndPrint(**client, flags.values, json);
  // The client sends writes to the leader, following redirects and elections.
  (*client)->Close();
  return status.ok() ? kExitOk : Fail("produce", status);
}

int RunConsume(const ConsumeFlags& flags) {
  absl::StatusOr<std::unique_ptr<client::Client>> client = OpenClient(flags.client);
  if (!client.ok()) return FailToOpen("consume", client.status());
  const bool json = flags.client.format == "json";
  absl::Status status =
      flags.follow ? Follow(**client, flags, json) : ConsumeToEnd(**client, flags, json);
  (*client)->Close();
  return status.ok() ? kExitOk : Fail("consume", status);
}

int RunServers(const ServersFlags& flags) {
  absl::StatusOr<std::unique_ptr<client::Client>> client = OpenClient(flags.client);
  if (!client.ok()) return FailToOpen("servers", client.status());
  absl::StatusOr<std::vector<client::Server>> servers = (*client)->GetServers();
  (*client)->Close();
  if (!servers.ok()) return Fail("servers", servers.status());
  if (flags.client.format == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const client::Server& server : *servers) {
      list.push_back(
          {{"id", server.id}, {"rpc_addr", server.rpc_addr}, {"is_leader", server.is_leader}});
    }
    std::cout << list.dump() << "\n";
    return kExitOk;
  }
  for (const client::Server& server : *servers) {
    std::cout << server.id << "\t" << server.rpc_addr << "\t"
              << (server.is_leader ? "leader" : "follower") << "\n";
  }
  return kExitOk;
}

int RunMembers(const MembersFlags& flags) {
  absl::StatusOr<absl::Duration> timeout = ParseDurationFlag("--timeout", flags.timeout);
  if (!timeout.ok()) return FailToOpen("members", timeout.status());
  if (*timeout == absl::ZeroDuration()) timeout = absl::InfiniteDuration();
  std::string key;
  if (!flags.gossip_key.empty()) {
    absl::StatusOr<std::string> parsed = discovery::ParseGossipKey(flags.gossip_key);
    if (!parsed.ok()) {
      return FailToOpen("members", absl::InvalidArgumentError(absl::StrCat(
                                       "invalid --gossip-key: ", parsed.status().message())));
    }
    key = *std::move(parsed);
  }
  absl::StatusOr<std::vector<discovery::Member>> members =
      discovery::ListMembers(flags.addr, key, *timeout);
  if (!members.ok()) return Fail("members", members.status());
  PrintMembers(*members, flags.format == "json");
  return kExitOk;
}

}  // namespace proglog::app
