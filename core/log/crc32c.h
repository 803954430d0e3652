// CRC32C (Castagnoli), the checksum of every stored record, computed with
// ISA-L's hardware-accelerated crc32_iscsi. Pure functions; thread-safe.
#ifndef PROGLOG_CORE_LOG_CRC32C_H_
#define PROGLOG_CORE_LOG_CRC32C_H_

#include <cstdint>
#include <string_view>

namespace proglog::log::internal {

// Extends `crc` (the CRC32C of some prefix, 0 for none) with `data`.
// Crc32cExtend(Crc32cExtend(0, a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);

inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_CRC32C_H_
