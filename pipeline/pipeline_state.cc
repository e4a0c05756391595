#include "pipeline/pipeline_state.h"

namespace llmix::pipeline {

PipelineMetrics::PipelineMetrics(MetricRegistry& registry)
    : calls(registry.AddCounter("llmix_calls_total",
                                "Calls by preset (\"inline\" for inline configs), provider and "
                                "outcome.",
                                {"preset", "provider", "outcome"})),
      call_seconds(registry.AddHistogram("llmix_call_duration_seconds",
                                         "Call latency inside the sidecar.", {"outcome"},
                                         LatencyBucketsSeconds())),
      stage_seconds(registry.AddHistogram(
          "llmix_stage_duration_seconds",
          "Time from entering a pipeline stage to its completion (includes inner stages).",
          {"stage"}, LatencyBucketsSeconds())),
      upstream_requests(registry.AddCounter("llmix_upstream_requests_total",
                                            "Upstream requests by provider and HTTP status.",
                                            {"provider", "status"})),
      upstream_seconds(registry.AddHistogram("llmix_upstream_request_duration_seconds",
                                             "Upstream HTTP exchange time by provider.",
                                             {"provider"}, LatencyBucketsSeconds())),
      cache_hits(registry.AddCounter("llmix_cache_hits_total", "Response cache hits by tier.",
                                     {"tier"})),
      cache_misses(registry.AddCounter("llmix_cache_misses_total", "Response cache misses.", {})
                       .With({})),
      cache_l2_errors(registry.AddCounter("llmix_cache_l2_errors_total",
                                          "Redis L2 errors by operation.", {"op"})),
      cache_l2_up(registry.AddGauge("llmix_cache_l2_up", "1 while the Redis L2 is reachable.", {})
                      .With({})),
      cache_l2_write_drops(registry.AddCounter("llmix_cache_l2_write_drops_total",
                                               "L2 writes dropped (queue full or Redis down).",
                                               {})
                               .With({})),
      cache_l2_writes(registry.AddCounter("llmix_cache_l2_writes_total", "L2 writes done.", {})
                          .With({})),
      semantic_misses(registry.AddCounter("llmix_semantic_cache_misses_total",
                                          "Semantic cache lookups that found no similar prompt.",
                                          {})
                          .With({})),
      semantic_embed_errors(registry.AddCounter(
                                "llmix_semantic_cache_embed_errors_total",
                                "Prompt embeddings that failed (the call went on uncached).", {})
                                .With({})),
      semantic_skips(registry.AddCounter(
          "llmix_semantic_cache_skips_total",
          "Calls of semantic-cache presets not looked up, by reason: no_embedder, temperature, "
          "no_text.",
          {"reason"})),
      semantic_inserts(registry.AddCounter("llmix_semantic_cache_inserts_total",
                                           "Semantic cache entries stored.", {})
                           .With({})),
      fallbacks(registry.AddCounter("llmix_fallbacks_total",
                                    "Calls that moved on to a preset's fallback target, by "
                                    "preset and target (1 = the first fallback).",
                                    {"preset", "target"})),
      json_tasks(registry.AddCounter("llmix_json_tasks_total",
                                     "JSON tasks by preset and outcome: valid, invalid (still "
                                     "invalid after the last repair) or error (the call failed).",
                                     {"preset", "outcome"})),
      json_repairs(registry.AddCounter("llmix_json_repairs_total",
                                       "Repair calls made by JSON tasks, by preset.",
                                       {"preset"})) {}

}  // namespace llmix::pipeline
