// Internal to core/security: builds error and log messages from mixed pieces
// (std::string_view, absl::string_view, numbers). Debian's abseil keeps its own
// string_view type, so absl::StrCat does not take std::string_view.
#ifndef PROGLOG_CORE_SECURITY_MESSAGE_H_
#define PROGLOG_CORE_SECURITY_MESSAGE_H_

#include <sstream>
#include <string>

namespace proglog::security::internal {

template <typename... Pieces>
std::string Msg(const Pieces&... pieces) {
  std::ostringstream text;
  (text << ... << pieces);
  return text.str();
}

}  // namespace proglog::security::internal

#endif  // PROGLOG_CORE_SECURITY_MESSAGE_H_
