#include "sidecar/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace llmix::sidecar {

namespace {

// Shortest round-trip form; Prometheus spells the specials "+Inf", "-Inf", "NaN".
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

void AppendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void AppendHeader(std::string& out, const std::string& name, const std::string& help,
                  std::string_view type) {
  absl::StrAppend(&out, "# HELP ", name, " ");
  AppendEscaped(out, help, false);
  absl::StrAppend(&out, "\n# TYPE ", name, " ", absl::string_view(type.data(), type.size()), "\n");
}

// {a="x",b="y"} plus an optional extra label (le for buckets); empty when there are none.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "{" : ",", names[i], "=\"");
    AppendEscaped(out, values[i], true);
    out += '"';
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, out.empty() ? "{" : ",",
                    absl::string_view(extra_name.data(), extra_name.size()), "=\"");
    AppendEscaped(out, extra_value, true);
    out += '"';
  }
  if (!out.empty()) out += '}';
  return out;
}

template <typename M>
std::vector<std::pair<std::vector<std::string>, const M*>> SortedChildren(const Family<M>& f) {
  auto children = f.Children();
  std::sort(children.begin(), children.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return children;
}

void Render(std::string& out, const CounterFamily& f) {
  AppendHeader(out, f.name(), f.help(), "counter");
  for (const auto& [values, c] : SortedChildren(f)) {
    absl::StrAppend(&out, f.name(), Labels(f.label_names(), values), " ", c->value(), "\n");
  }
}

void Render(std::string& out, const GaugeFamily& f) {
  AppendHeader(out, f.name(), f.help(), "gauge");
  for (const auto& [values, g] : SortedChildren(f)) {
    absl::StrAppend(&out, f.name(), Labels(f.label_names(), values), " ", FormatValue(g->value()),
                    "\n");
  }
}

void Render(std::string& out, const CallbackGaugeFamily& f) {
  AppendHeader(out, f.name(), f.help(), f.counter() ? "counter" : "gauge");
  std::vector<GaugeSample> samples = f.Read();
  std::sort(samples.begin(), samples.end(),
            [](const auto& a, const auto& b) { return a.label_values < b.label_values; });
  for (const GaugeSample& s : samples) {
    absl::StrAppend(&out, f.name(), Labels(f.label_names(), s.label_values), " ",
                    FormatValue(s.value), "\n");
  }
}

void Render(std::string& out, const HistogramFamily& f) {
  AppendHeader(out, f.name(), f.help(), "histogram");
  for (const auto& [values, h] : SortedChildren(f)) {
    const Histogram::Snapshot s = h->Read();
    uint64_t cumulative = 0;
    for (size_t i = 0; i < s.bounds.size(); ++i) {
      cumulative += s.counts[i];
      absl::StrAppend(&out, f.name(), "_bucket",
                      Labels(f.label_names(), values, "le", FormatValue(s.bounds[i])), " ",
                      cumulative, "\n");
    }
    cumulative += s.counts.back();
    // The +Inf bucket equals _count; both come from one read so a scrape is consistent.
    absl::StrAppend(&out, f.name(), "_bucket", Labels(f.label_names(), values, "le", "+Inf"), " ",
                    cumulative, "\n");
    absl::StrAppend(&out, f.name(), "_sum", Labels(f.label_names(), values), " ",
                    FormatValue(s.sum), "\n");
    absl::StrAppend(&out, f.name(), "_count", Labels(f.label_names(), values), " ", cumulative,
                    "\n");
  }
}

}  // namespace

std::string RenderPrometheusText(const MetricRegistry& registry) {
  std::string out;
  out.reserve(16 << 10);
  registry.ForEach([&out](const auto& family) { Render(out, family); });
  return out;
}

}  // namespace llmix::sidecar
