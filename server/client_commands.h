// server/client_commands: the `proglog produce`, `proglog consume`,
// `proglog servers` and `proglog members` subcommands, small clients for people
// at a terminal and for shell scripts. The first three talk to any node over the
// log.v1 gRPC API (optionally with TLS); `members` asks any gossip member (a
// proglog node or a serf agent) for its member list.
//
// Thread-safety: each subcommand runs once, from main().
#ifndef PROGLOG_SERVER_CLIENT_COMMANDS_H_
#define PROGLOG_SERVER_CLIENT_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace proglog::app {

// Flags shared by the client subcommands.
struct ClientFlags {
  std::string addr;  // comma-separated bootstrap host:port list; PROGLOG_ADDR, else 127.0.0.1:8400
  std::string timeout = "10s";
  std::string format = "text";
  std::string read_from = "followers";  // "followers", "leader" or "pinned"
  int attempts = 10;                    // attempts per call, the first included
  std::string refresh_interval = "10s";
  // TLS; any of them turns it on. PROGLOG_TLS_* environment variables too.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
};

struct ProduceFlags {
  ClientFlags client;
  std::vector<std::string> values;  // none or "-": read lines from stdin
};

struct ConsumeFlags {
  ClientFlags client;
  uint64_t offset = 0;
  uint64_t count = 0;  // 0: no limit
  bool follow = false;
};

struct ServersFlags {
  ClientFlags client;
};

struct MembersFlags {
  std::string addr = "127.0.0.1:8401";  // a gossip address
  std::string gossip_key;               // base64; PROGLOG_GOSSIP_KEY
  std::string timeout = "5s";
  std::string format = "text";
};

// Each adds its subcommand to `app` with its flags bound to `flags`.
CLI::App* AddProduceCommand(CLI::App& app, ProduceFlags& flags);
CLI::App* AddConsumeCommand(CLI::App& app, ConsumeFlags& flags);
CLI::App* AddServersCommand(CLI::App& app, ServersFlags& flags);
CLI::App* AddMembersCommand(CLI::App& app, MembersFlags& flags);

// Each runs its subcommand and returns the process exit code.
int RunProduce(const ProduceFlags& flags);
int RunConsume(const ConsumeFlags& flags);
int RunServers(const ServersFlags& flags);
int RunMembers(const MembersFlags& flags);

}  // namespace proglog::app

#endif  // PROGLOG_SERVER_CLIENT_COMMANDS_H_
