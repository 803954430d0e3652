// Fuzz target: the settings of `proglog serve` from a YAML config file (the
// yaml-cpp parse and our reading of every key). The input is the file; any
// content must resolve or be refused with a status naming the problem, never
// crash or throw past Resolve().
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "CLI/CLI.hpp"
#include "server/settings.h"

namespace {

const std::filesystem::path& ConfigPath() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("proglog-fuzz-settings-" + std::to_string(getpid()) + ".yaml");
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ofstream(ConfigPath(), std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  CLI::App app("fuzz", "proglog");
  proglog::app::ServeFlags flags;
  flags.Register(app);
  const std::string config = ConfigPath().string();
  const char* argv[] = {"proglog", "--config-file", config.c_str()};
  try {
    app.parse(3, const_cast<char**>(argv));
  } catch (const CLI::ParseError&) {
    std::abort();  // the command line is fixed and valid
  }
  auto settings = flags.Resolve();
  if (!settings.ok() && settings.status().message().empty()) std::abort();
  return 0;
}
