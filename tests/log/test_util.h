// Helpers shared by the storage engine tests: shorthands for opening logs and
// building records (their scratch directory is tests/testing/scratch_dir.h).
#ifndef PROGLOG_TESTS_LOG_TEST_UTIL_H_
#define PROGLOG_TESTS_LOG_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/log/durable_point.h"
#include "core/log/log.h"
#include "gtest/gtest.h"

namespace proglog::log::testing {

// Whole-file reads and writes, for tests that damage files on purpose.
inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

inline Record Value(std::string v) {
  Record r;
  r.value = std::move(v);
  return r;
}

// Models a crash in which only the records below `offset` had been fsynced:
// recovery then treats damage at or after `offset` as a torn tail.
inline void SetDurablePoint(const std::filesystem::path& dir, uint64_t offset) {
  auto point = internal::DurablePoint::Open(dir, offset);
  ASSERT_TRUE(point.ok()) << point.status();
}

// Small segments so tests roll often.
inline Options SmallOptions() {
  Options o;
  o.max_store_bytes = 1024;
  o.max_index_bytes = 10 * 12;
  o.durability.mode = Durability::Mode::kNever;
  return o;
}

}  // namespace proglog::log::testing

#endif  // PROGLOG_TESTS_LOG_TEST_UTIL_H_
