#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/log/log.h"

namespace proglog::log {

absl::StatusOr<Durability> Durability::Parse(std::string_view text) {
  Durability d;
  if (text == "always") return d;
  if (text == "never") {
    d.mode = Mode::kNever;
    return d;
  }
  constexpr std::string_view kInterval = "interval:";
  int64_t ms = 0;
  if (text.starts_with(kInterval) &&
      absl::SimpleAtoi(std::string(text.substr(kInterval.size())), &ms) && ms > 0) {
    d.mode = Mode::kInterval;
    d.interval = std::chrono::milliseconds(ms);
    return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid fsync policy \"", std::string(text),
                   "\": expected always, never or interval:<ms> with ms > 0"));
}

std::string Durability::ToString() const {
  switch (mode) {
    case Mode::kAlways:
      return "always";
    case Mode::kNever:
      return "never";
    case Mode::kInterval:
      return absl::StrCat("interval:", interval.count());
  }
  return "unknown";
}

}  // namespace proglog::log
