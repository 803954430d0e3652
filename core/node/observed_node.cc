#include "core/node/observed_node.h"

#include <sys/statvfs.h>

#include <filesystem>
#include <utility>
#include <vector>

#include "core/telemetry/telemetry.h"

namespace proglog::node::internal {
namespace {

// proglog_data_dir_{free,capacity}_bytes of the file system holding `dir`, for
// the disk-filling alert.
telemetry::CollectorHandle RegisterDiskMetrics(telemetry::Registry* registry,
                                               std::filesystem::path dir) {
  return registry->AddCollector(
      [dir = std::move(dir)](std::vector<telemetry::FamilySnapshot>* out) {
        struct statvfs fs {};
        if (::statvfs(dir.c_str(), &fs) != 0) return;
        const double block = static_cast<double>(fs.f_frsize);
        out->push_back({"proglog_data_dir_free_bytes",
                        "Bytes available to the node on the data dir's file system.",
                        telemetry::MetricType::kGauge,
                        {{{}, block * static_cast<double>(fs.f_bavail)}},
                        {}});
        out->push_back({"proglog_data_dir_capacity_bytes",
                        "Size of the data dir's file system in bytes.",
                        telemetry::MetricType::kGauge,
                        {{{}, block * static_cast<double>(fs.f_blocks)}},
                        {}});
      });
}

class ObservedNode final : public Node {
 public:
  ObservedNode(std::unique_ptr<telemetry::Registry> registry,
               std::unique_ptr<telemetry::Telemetry> telemetry, std::unique_ptr<Node> node,
               const std::filesystem::path& data_dir)
      : registry_(std::move(registry)),
        telemetry_(std::move(telemetry)),
        node_(std::move(node)),
        disk_metrics_(RegisterDiskMetrics(registry_.get(), data_dir)) {
    telemetry_->SetReady(true);
  }
  ~ObservedNode() override { (void)Close(); }

  absl::StatusOr<uint64_t> Append(std::string_view value) override { return node_->Append(value); }
  absl::StatusOr<log::Record> Read(uint64_t offset) override { return node_->Read(offset); }
  std::string RpcAddress() const override { return node_->RpcAddress(); }
  std::string GossipAddress() const override { return node_->GossipAddress(); }
  std::string MetricsAddress() const override { return telemetry_->MetricsAddress(); }
  telemetry::Registry* Metrics() const override { return registry_.get(); }

  absl::Status Close() override {
    telemetry_->SetReady(false);
    // The node first: its RPCs end before the tracer they use goes away.
    absl::Status status = node_->Close();
    return status;
  }

 private:
  // Destroyed last: the node's components record into it until they are gone.
  const std::unique_ptr<telemetry::Registry> registry_;
  const std::unique_ptr<telemetry::Telemetry> telemetry_;
  const std::unique_ptr<Node> node_;
  telemetry::CollectorHandle disk_metrics_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> OpenObserved(
    Config config, const std::function<absl::StatusOr<std::unique_ptr<Node>>(Config)>& open) {
  // The node's own registry: several nodes in one process each report their
  // own log and Raft series.
  auto registry = std::make_unique<telemetry::Registry>();
  config.log.metrics = registry.get();
  telemetry::Settings with_node = config.telemetry;
  with_node.tracing.resource_attributes.emplace_back("service.instance.id", config.node_name);
  if (config.tracer != nullptr && !with_node.tracing.traces_endpoint.empty()) {
    return absl::InvalidArgumentError(
        "a node takes either a tracer of its own or a trace endpoint, not both");
  }
  absl::StatusOr<std::unique_ptr<telemetry::Telemetry>> telemetry =
      telemetry::Telemetry::Start(with_node, registry.get());
  if (!telemetry.ok()) return telemetry.status();
  // The node's RPCs use its own tracer, never another node's.
  if ((*telemetry)->GetTracer() != nullptr) config.tracer = (*telemetry)->GetTracer();
  const std::filesystem::path data_dir = config.data_dir;
  absl::StatusOr<std::unique_ptr<Node>> node = open(std::move(config));
  if (!node.ok()) return node.status();
  return std::make_unique<ObservedNode>(std::move(registry), *std::move(telemetry),
                                        *std::move(node), data_dir);
}

}  // namespace proglog::node::internal
