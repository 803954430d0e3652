// Shared by the discovery fuzz targets: seed inputs (one valid instance of
// every message, wrapper and stream form, plus serf-agent bytes) and the
// decode-everything helpers that check round-trip properties.
// The libFuzzer targets start from these (write them with
// `<regression-runner> --write-seeds DIR`) and the regression runners mutate them.
#ifndef PROGLOG_TESTS_DISCOVERY_FUZZ_FUZZ_SUPPORT_H_
#define PROGLOG_TESTS_DISCOVERY_FUZZ_FUZZ_SUPPORT_H_

#include <string>
#include <string_view>
#include <vector>

namespace proglog::discovery::fuzz {

std::vector<std::string> Seeds();

// The gossip key the seeds' encrypted stream messages use; the targets that
// decode encrypted streams install it.
const std::string& SeedKey();

// Decodes one leaf memberlist message (type byte + body) with the matching
// decoder; what decodes must re-encode to something that decodes the same.
void DecodeLeaf(std::string_view msg);
// Decodes one Serf message (serf type byte + body).
void DecodeSerf(std::string_view msg);
// Stops the process when a property does not hold (the fuzzer reports it).
void Check(bool ok);

}  // namespace proglog::discovery::fuzz

#endif  // PROGLOG_TESTS_DISCOVERY_FUZZ_FUZZ_SUPPORT_H_
