#include "core/log/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>

namespace proglog::log::internal {

uint32_t Crc32cExtend(uint32_t crc, std::string_view data) {
  // crc32_iscsi works on the raw register: the standard CRC32C pre- and
  // post-inverts it, so undo the final inversion of the previous result first.
  uint32_t reg = ~crc;
  // crc32_iscsi takes an int length; feed larger inputs in pieces.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), INT_MAX / 2);
    reg = crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                      static_cast<int>(n), reg);
    data.remove_prefix(n);
  }
  return ~reg;
}

}  // namespace proglog::log::internal
