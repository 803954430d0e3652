// Fuzz target: the store and index decoders and recovery of core/log. The input
// becomes the files of a one-segment log directory (store, index and the
// DURABLE point), then the log is opened as after a crash. Open must either
// refuse with a status or recover a log whose every record reads back and that
// takes a new append; it must never crash, hang or read out of bounds.
//
// Input layout: u32 store length | store bytes | u32 index length | index bytes
// | the rest: DURABLE. Lengths are little-endian and clamped to what is there.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/log/log.h"

namespace {

std::string_view TakeChunk(std::string_view& in) {
  if (in.size() < 4) {
    std::string_view all = in;
    in = {};
    return all;
  }
  const uint32_t length = static_cast<uint8_t>(in[0]) | static_cast<uint8_t>(in[1]) << 8 |
                          static_cast<uint8_t>(in[2]) << 16 |
                          static_cast<uint32_t>(static_cast<uint8_t>(in[3])) << 24;
  in.remove_prefix(4);
  const size_t take = std::min<size_t>(length, in.size());
  std::string_view chunk = in.substr(0, take);
  in.remove_prefix(take);
  return chunk;
}

void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A scratch directory per process, in memory when /dev/shm exists.
const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    return base / ("proglog-fuzz-log-" + std::to_string(getpid()));
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using proglog::log::Log;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view store = TakeChunk(in);
  const std::string_view index = TakeChunk(in);
  const std::string_view durable = in;

  const std::filesystem::path& dir = ScratchDir();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  WriteFile(dir / "00000000000000000000.store", store);
  WriteFile(dir / "00000000000000000000.index", index);
  if (!durable.empty()) WriteFile(dir / "DURABLE", durable);

  proglog::log::Options options;
  options.max_store_bytes = 1 << 16;
  options.max_index_bytes = 1 << 12;
  options.max_record_bytes = 1 << 12;
  auto log = Log::Open(dir, options);
  if (!log.ok()) return 0;  // refused: fine, as long as it did not crash
  const uint64_t lowest = (*log)->LowestOffset();
  const uint64_t next = (*log)->NextOffset();
  if (next < lowest) std::abort();
  for (uint64_t offset = lowest; offset < next; ++offset) {
    auto record = (*log)->Read(offset);
    // A recovered log serves every offset it reports.
    if (!record.ok() || record->offset != offset) std::abort();
  }
  auto appended = (*log)->Append(proglog::log::Record{"fuzz"});
  if (appended.ok() && *appended != next) std::abort();
  (void)(*log)->Close();
  return 0;
}
