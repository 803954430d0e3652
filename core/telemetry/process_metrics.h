// core/telemetry/process_metrics: the standard process_* metrics of a Linux
// process (resident and virtual memory, CPU seconds, open and maximum file
// descriptors, start time), read from /proc at scrape time.
#ifndef PROGLOG_CORE_TELEMETRY_PROCESS_METRICS_H_
#define PROGLOG_CORE_TELEMETRY_PROCESS_METRICS_H_

#include <vector>

#include "core/telemetry/metrics.h"

namespace proglog::telemetry {

// Appends the process_* families for this process to `out` (a Collector).
void CollectProcessMetrics(std::vector<FamilySnapshot>* out);

}  // namespace proglog::telemetry

#endif  // PROGLOG_CORE_TELEMETRY_PROCESS_METRICS_H_
