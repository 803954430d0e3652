// Regression runner for a libFuzzer entry point, built with any compiler: it
// feeds every seed, then a bounded number of seeded random mutations of them,
// and plain random buffers. A crash, sanitizer report or failed check in the
// target fails the test. `--write-seeds DIR` writes the seed corpus instead.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string Mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  int steps = 1 + rng() % 4;
  for (int i = 0; i < steps; ++i) {
    size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!s.empty()) s[pos] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // an interesting byte
        if (!s.empty()) {
          static const uint8_t kBytes[] = {0x00, 0x7f, 0x80, 0xc0, 0xcc, 0xcd, 0xce,
                                           0xcf, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde,
                                           0xdf, 0xff, 0x07, 0x09, 0x0c};
          s[pos] = static_cast<char>(kBytes[rng() % sizeof(kBytes)]);
        }
        break;
      case 2:  // truncate
        s.resize(pos);
        break;
      case 3:  // insert random bytes
        s.insert(pos, std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      case 4:  // delete a run
        if (!s.empty()) s.erase(pos, 1 + rng() % 8);
        break;
      case 5: {  // splice in part of another seed
        const std::string& other = seeds[rng() % seeds.size()];
        if (!other.empty()) s.insert(pos, other.substr(rng() % other.size()));
        break;
      }
      default:  // duplicate a chunk
        if (!s.empty()) s.insert(pos, s.substr(pos, 1 + rng() % 16));
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> seeds = proglog::discovery::fuzz::Seeds();
  if (argc == 3 && std::strcmp(argv[1], "--write-seeds") == 0) {
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream(std::string(argv[2]) + "/seed-" + std::to_string(i), std::ios::binary)
          << seeds[i];
    }
    return 0;
  }
  int iterations = argc == 2 ? std::atoi(argv[1]) : 20000;
  std::mt19937_64 rng(20261125);  // fixed: a failure reproduces exactly
  for (const std::string& s : seeds) Run(s);
  for (int i = 0; i < iterations; ++i) {
    if (i % 10 == 9) {  // sometimes pure noise
      std::string noise(rng() % 256, '\0');
      for (char& c : noise) c = static_cast<char>(rng());
      Run(noise);
      continue;
    }
    Run(Mutate(seeds[rng() % seeds.size()], seeds, rng));
  }
  std::printf("%zu seeds and %d generated inputs decoded without a crash\n", seeds.size(),
              iterations);
  return 0;
}
