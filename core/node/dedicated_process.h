// core/node/dedicated_process: settings for a process that exists to run a
// node (the proglog binary), which a library must not impose on a host that
// embeds a node among its own work.
#ifndef PROGLOG_CORE_NODE_DEDICATED_PROCESS_H_
#define PROGLOG_CORE_NODE_DEDICATED_PROCESS_H_

#include <cstddef>

namespace proglog::node {

// glibc malloc settings for serving. By default glibc gives freed memory back
// to the kernel as soon as 128 KiB lie free at the top of a heap, and maps
// every block of 128 KiB or more afresh (its threshold then adapts). A node
// frees what it allocated for each message: the records of a batch, a 1 MiB
// read, gRPC's serialized reply. So every streamed message had its memory
// faulted in and cleared by the kernel again, which cost a streaming reader
// a quarter to two fifths of its CPU (bench/server, cbatch-stream and
// consume-stream of 4 KiB records, medians of 3 runs: 8.9 -> 5.2 and
// 12.5 -> 9.6 us of server CPU per record).
// With these, freed memory is kept for reuse up to kKeptFreeBytes per heap,
// and blocks below kMappedBlockBytes come from the heaps.
inline constexpr size_t kKeptFreeBytes = 64u << 20;
inline constexpr size_t kMappedBlockBytes = 8u << 20;

// Applies the settings above, unless the environment's GLIBC_TUNABLES sets
// glibc.malloc.trim_threshold or glibc.malloc.mmap_threshold itself: an
// operator's choice wins. Returns whether it applied them. Call it before the
// node starts (and before any thread does).
bool TuneAllocatorForServing();

}  // namespace proglog::node

#endif  // PROGLOG_CORE_NODE_DEDICATED_PROCESS_H_
