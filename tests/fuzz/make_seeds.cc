// Writes the seed corpora of the fuzz targets from real encoders: a log made by
// core/log (then cut and damaged as a crash would), Raft messages and frames made
// by core/mux, and config files. Run once to (re)make tests/fuzz/corpus/*/seed-*;
// what libFuzzer finds is merged in beside them.
// Usage: make_seeds CORPUS_DIR
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "core/mux/raft_codec.h"
#include "proto/log/v1/wire.h"

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Le32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

// The fuzz_log_recovery input for these files.
std::string LogInput(const std::string& store, const std::string& index,
                     const std::string& durable) {
  return Le32(store.size()) + store + Le32(index.size()) + index + durable;
}

void LogSeeds(const fs::path& out) {
  const fs::path dir =
      fs::temp_directory_path() / ("proglog-make-seeds-" + std::to_string(getpid()));
  fs::remove_all(dir);
  proglog::log::Options options;
  options.max_store_bytes = 1 << 16;
  options.max_index_bytes = 1 << 12;
  options.max_record_bytes = 1 << 12;
  {
    auto log = proglog::log::Log::Open(dir, options);
    if (!log.ok()) std::abort();
    for (int i = 0; i < 6; ++i) {
      proglog::log::Record record{std::string(1 + i * 7, static_cast<char>('a' + i))};
      record.term = i / 2;
      record.type = i % 3;
      if (!(*log)->Append(record).ok()) std::abort();
    }
    if (!(*log)->Close().ok()) std::abort();
  }
  const std::string store = Read(dir / "00000000000000000000.store");
  const std::string index = Read(dir / "00000000000000000000.index");
  const std::string durable = Read(dir / "DURABLE");
  fs::remove_all(dir);
  Write(out, "seed-clean", LogInput(store, index, durable));
  Write(out, "seed-no-durable", LogInput(store, index, ""));
  Write(out, "seed-no-index", LogInput(store, "", durable));
  Write(out, "seed-torn-tail", LogInput(store.substr(0, store.size() - 5), index, durable));
  std::string zeroed = store;
  for (size_t i = zeroed.size() / 2; i < zeroed.size(); ++i) zeroed[i] = '\0';
  Write(out, "seed-zeroed-half", LogInput(zeroed, index, ""));
  std::string flipped = store;
  flipped[flipped.size() / 3] ^= 0x40;
  Write(out, "seed-flipped-byte", LogInput(flipped, index, durable));
  Write(out, "seed-empty", "");
}

std::vector<proglog::raft::Message> SampleMessages() {
  using proglog::raft::Entry;
  using proglog::raft::EntryType;
  using proglog::raft::Message;
  using proglog::raft::MessageType;
  std::vector<Message> messages;
  Message append;
  append.type = MessageType::kAppend;
  append.from = 1;
  append.to = 2;
  append.term = 3;
  append.log_term = 2;
  append.index = 9;
  append.commit = 8;
  append.entries = {Entry{10, 3, EntryType::kNormal, "hello"}, Entry{11, 3, EntryType::kNoop, ""}};
  messages.push_back(append);
  Message reject;
  reject.type = MessageType::kAppendResponse;
  reject.from = 2;
  reject.to = 1;
  reject.term = 3;
  reject.reject = true;
  reject.reject_hint = 5;
  reject.hint_term = 2;
  messages.push_back(reject);
  Message heartbeat;
  heartbeat.from = 1;
  heartbeat.to = 3;
  heartbeat.term = 4;
  heartbeat.context = 77;
  messages.push_back(heartbeat);
  Message chunk;
  chunk.type = MessageType::kSnapshotChunk;
  chunk.from = 1;
  chunk.to = 2;
  chunk.term = 5;
  chunk.snapshot.index = 100;
  chunk.snapshot.term = 4;
  chunk.chunk_offset = 4096;
  chunk.chunk = std::string(300, 'z');
  chunk.last_chunk = true;
  messages.push_back(chunk);
  Message read_point;  // a leader's answer to a follower's forwarded ReadIndex
  read_point.type = MessageType::kReadIndexResponse;
  read_point.from = 1;
  read_point.to = 3;
  read_point.term = 5;
  read_point.context = 12;
  read_point.index = 140;
  messages.push_back(read_point);
  return messages;
}

void RaftSeeds(const fs::path& messages_dir, const fs::path& preamble_dir) {
  const std::vector<proglog::raft::Message> messages = SampleMessages();
  std::string stream;
  for (size_t i = 0; i < messages.size(); ++i) {
    Write(messages_dir, "seed-" + std::to_string(i), proglog::mux::EncodeMessage(messages[i]));
    std::string frame;
    proglog::mux::AppendFrame(7, messages[i], &frame);
    stream += frame;
    // Arrival chunk size byte, then the mux byte, then the frame.
    Write(preamble_dir, "seed-" + std::to_string(i),
          std::string(1, static_cast<char>(i * 5)) +
              std::string(1, static_cast<char>(proglog::wire::kRaftConnectionByte)) + frame);
  }
  Write(preamble_dir, "seed-stream",
        std::string(1, '\x03') +
            std::string(1, static_cast<char>(proglog::wire::kRaftConnectionByte)) + stream);
  std::string other_cluster;
  proglog::mux::AppendFrame(8, messages[0], &other_cluster);
  Write(preamble_dir, "seed-other-cluster",
        std::string(1, '\xff') +
            std::string(1, static_cast<char>(proglog::wire::kRaftConnectionByte)) + other_cluster);
}

void SettingsSeeds(const fs::path& out) {
  Write(out, "seed-full",
        "data-dir: /tmp/proglog-fuzz-unused\n"
        "node-name: n1\n"
        "rpc-port: 8400\n"
        "bind-addr: 127.0.0.1:8401\n"
        "bootstrap: true\n"
        "start-join-addrs: [127.0.0.1:8411, 127.0.0.1:8421]\n"
        "max-store-bytes: 64MiB\n"
        "max-index-bytes: 1MiB\n"
        "max-record-bytes: 1MiB\n"
        "retention-age: 7d\n"
        "fsync: interval:100ms\n"
        "log-format: json\n"
        "raft-heartbeat-interval: 50ms\n");
  Write(out, "seed-bad-types", "rpc-port: [1, 2]\nbootstrap: maybe\nmax-record-bytes: -1\n");
  Write(out, "seed-unknown-key", "no-such-setting: 1\n");
  Write(out, "seed-not-a-map", "- a\n- b\n");
  Write(out, "seed-anchors", "a: &x {b: *x}\nnode-name: *x\n");
  Write(out, "seed-empty", "");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  const fs::path corpus(argv[1]);
  LogSeeds(corpus / "log_recovery");
  RaftSeeds(corpus / "raft_message", corpus / "mux_preamble");
  SettingsSeeds(corpus / "settings");
  std::printf("seeds written under %s\n", argv[1]);
  return 0;
}
