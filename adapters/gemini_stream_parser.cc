// Gemini `models/{model}:streamGenerateContent?alt=sse`: every event's data is one
// GenerateContentResponse holding the next parts of candidate 0 (text, `thought: true` text,
// whole functionCall parts), `usageMetadata` (cumulative) and, on the last one, finishReason.
// There is no end marker: a stream is complete once a finishReason arrived. A prompt blocked
// before any candidate (promptFeedback.blockReason) is an error event, as in the unary parse.
#include <utility>

#include "absl/strings/str_cat.h"
#include "adapters/gemini_adapter.h"
#include "adapters/stream_parser.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

class GeminiStreamParser final : public StreamParser {
 public:
  GeminiStreamParser(std::string provider, const StreamParserOptions& options)
      : StreamParser(std::move(provider), "gemini", options) {}

 private:
  absl::Status OnEvent(const SseEvent& event, std::vector<StreamEvent>* out) override {
    json j;
    if (absl::Status s = ParseObject(event, &j); !s.ok()) return s;
    if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
      out->push_back(ErrorEvent(*err));
      set_done();
      return absl::OkStatus();
    }
    EmitModel(j.value("modelVersion", json()), out);
    const json& candidates = j.value("candidates", json());
    if (candidates.is_array() && !candidates.empty()) {
      if (!candidates[0].is_object()) return Malformed("candidates[0] is not an object");
      if (absl::Status s = Candidate(candidates[0], out); !s.ok()) return s;
    } else if (const json& feedback = j.value("promptFeedback", json());
               feedback.is_object() && feedback.contains("blockReason")) {
      StreamEvent e;
      e.kind = StreamEventKind::kError;
      e.error.code = CallErrorCode::kUpstreamBadResponse;
      e.error.provider = provider();
      e.error.message = absl::StrCat(
          provider(), " stream: prompt blocked: ",
          feedback["blockReason"].dump(-1, ' ', false, json::error_handler_t::replace));
      out->push_back(std::move(e));
      set_done();
      return absl::OkStatus();
    }
    if (auto u = j.find("usageMetadata"); u != j.end() && u->is_object()) {
      StreamEvent e;
      e.kind = StreamEventKind::kUsage;
      e.usage = GeminiAdapter::ParseUsage(*u);
      out->push_back(std::move(e));
    }
    return absl::OkStatus();
  }

  absl::Status Candidate(const json& cand, std::vector<StreamEvent>* out) {
    const json& content = cand.value("content", json());
    const json& parts = content.is_object() ? content.value("parts", json()) : json();
    if (parts.is_array()) {
      for (const json& part : parts) {
        if (!part.is_object()) return Malformed("a content part is not an object");
        if (auto fc = part.find("functionCall"); fc != part.end() && fc->is_object()) {
          ToolCall call = GeminiAdapter::FunctionCall(*fc, static_cast<size_t>(tools_));
          StreamEvent e;
          e.kind = StreamEventKind::kToolCall;
          e.tool_call.index = tools_++;
          e.tool_call.id = std::move(call.id);
          e.tool_call.name = std::move(call.name);
          e.tool_call.arguments = std::move(call.arguments);
          out->push_back(std::move(e));
        } else if (std::string text = StrField(part, "text"); !text.empty()) {
          const bool thought =
              part.value("thought", json()).is_boolean() && part["thought"].get<bool>();
          Emit(thought ? StreamEventKind::kThinking : StreamEventKind::kContent, std::move(text),
               out);
        }
      }
    }
    if (std::string reason = StrField(cand, "finishReason"); !reason.empty()) {
      finished_ = true;
      Emit(StreamEventKind::kFinish, GeminiAdapter::FinishReason(reason, tools_ > 0), out);
    }
    return absl::OkStatus();
  }

  absl::Status OnEnd(std::vector<StreamEvent>*) override {
    if (finished_) return absl::OkStatus();
    return Cut("before a finishReason");
  }

  int tools_ = 0;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<StreamParser> MakeGeminiStreamParser(std::string provider,
                                                     const StreamParserOptions& options) {
  return std::make_unique<GeminiStreamParser>(std::move(provider), options);
}

}  // namespace llmix::adapters
