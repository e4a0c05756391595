// Renders a MetricRegistry in the Prometheus text exposition format (version 0.0.4), as
// served on the admin listener's /metrics. Thread-safe (reads atomics and callback gauges).
#pragma once

#include <string>
#include <string_view>

#include "common/telemetry.h"

namespace llmix::sidecar {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

std::string RenderPrometheusText(const MetricRegistry& registry);

}  // namespace llmix::sidecar
