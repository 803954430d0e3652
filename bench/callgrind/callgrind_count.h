// Instruction counts for benches that run under `valgrind --tool=callgrind`.
//
// Wall-clock figures on a shared 2-core machine move by 20% between runs; the
// instructions a process executes for a fixed number of calls do not. A bench
// brackets the calls it measures with CountInstructions, which zeroes
// callgrind's counters, runs them, dumps, and reads the dump's total back.
#ifndef PROGLOG_BENCH_CALLGRIND_CALLGRIND_COUNT_H_
#define PROGLOG_BENCH_CALLGRIND_CALLGRIND_COUNT_H_

#include <functional>
#include <optional>
#include <string>

namespace proglog::bench {

// Whether this process runs under valgrind (callgrind's requests are no-ops
// otherwise, and there would be nothing to read back).
bool UnderValgrind();

// The instructions every thread of this process executed while `calls` ran,
// from a callgrind dump labelled `label` in the working directory; nullopt
// when no dump could be read (not under callgrind, or another --dump-dir).
std::optional<double> CountInstructions(const std::string& label,
                                        const std::function<void()>& calls);

}  // namespace proglog::bench

#endif  // PROGLOG_BENCH_CALLGRIND_CALLGRIND_COUNT_H_
