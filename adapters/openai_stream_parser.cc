// OpenAI Chat Completions streaming (`"stream": true`): `data: <chat.completion.chunk>` events
// and a final `data: [DONE]`. Only choice 0 is read (the sidecar never asks for n > 1).
// Reasoning comes as `delta.reasoning_content` (DeepSeek, vLLM, sno-gpu) or `delta.reasoning`
// (OpenRouter); tool calls as `delta.tool_calls[{index, id, function: {name, arguments}}]`
// fragments; usage in the last chunk (stream_options.include_usage, `choices: []`). An error
// arrives as a chunk with `error` (OpenRouter also sets finish_reason "error").
#include <utility>

#include "adapters/openai_chat_adapter.h"
#include "adapters/stream_parser.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

// Tool calls per reply, far above any real one; bounds the index a provider can name.
constexpr int64_t kMaxToolCallIndex = 1024;

class OpenAiStreamParser final : public StreamParser {
 public:
  OpenAiStreamParser(std::string provider, const StreamParserOptions& options)
      : StreamParser(std::move(provider), "openai_chat", options) {}

 private:
  absl::Status OnEvent(const SseEvent& event, std::vector<StreamEvent>* out) override {
    if (event.data == "[DONE]") {
      set_done();
      return absl::OkStatus();
    }
    json j;
    if (absl::Status s = ParseObject(event, &j); !s.ok()) return s;
    if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
      out->push_back(ErrorEvent(*err));
      set_done();
      return absl::OkStatus();
    }
    EmitModel(j.value("model", json()), out);
    if (auto choices = j.find("choices"); choices != j.end() && choices->is_array()) {
      for (size_t k = 0; k < choices->size(); ++k) {
        const json& choice = (*choices)[k];
        if (!choice.is_object()) return Malformed("a choice is not an object");
        const auto index = WholeNumber(choice.value("index", json(static_cast<int64_t>(k))));
        if (index.value_or(-1) != 0) continue;
        if (absl::Status s = Choice(choice, out); !s.ok()) return s;
      }
    }
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      StreamEvent e;
      e.kind = StreamEventKind::kUsage;
      e.usage = OpenAiChatAdapter::ParseUsage(*u);
      out->push_back(std::move(e));
    }
    return absl::OkStatus();
  }

  absl::Status Choice(const json& choice, std::vector<StreamEvent>* out) {
    if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
      for (const char* key : {"reasoning_content", "reasoning"}) {
        if (std::string r = StrField(*d, key); !r.empty()) {
          Emit(StreamEventKind::kThinking, std::move(r), out);
          break;
        }
      }
      if (std::string c = StrField(*d, "content"); !c.empty()) {
        Emit(StreamEventKind::kContent, std::move(c), out);
      }
      if (auto calls = d->find("tool_calls"); calls != d->end() && calls->is_array()) {
        for (size_t k = 0; k < calls->size(); ++k) {
          const json& call = (*calls)[k];
          if (!call.is_object()) return Malformed("a tool_calls item is not an object");
          const auto index = WholeNumber(call.value("index", json(static_cast<int64_t>(k))));
          if (!index || *index < 0 || *index >= kMaxToolCallIndex) {
            return Malformed("a tool call index is not a number in [0, 1024)");
          }
          StreamEvent e;
          e.kind = StreamEventKind::kToolCall;
          e.tool_call.index = static_cast<int>(*index);
          e.tool_call.id = StrField(call, "id");
          if (auto fn = call.find("function"); fn != call.end() && fn->is_object()) {
            e.tool_call.name = StrField(*fn, "name");
            if (auto a = fn->find("arguments"); a != fn->end() && a->is_string()) {
              e.tool_call.arguments = a->get<std::string>();
            }
          }
          out->push_back(std::move(e));
        }
      }
    }
    if (std::string reason = StrField(choice, "finish_reason"); !reason.empty()) {
      finished_ = true;
      Emit(StreamEventKind::kFinish, std::move(reason), out);
    }
    return absl::OkStatus();
  }

  absl::Status OnEnd(std::vector<StreamEvent>*) override {
    // Some OpenAI-compatible servers end without [DONE]; a finish_reason is enough.
    if (finished_) return absl::OkStatus();
    return Cut("before a finish_reason or [DONE]");
  }

  bool finished_ = false;
};

}  // namespace

std::unique_ptr<StreamParser> MakeOpenAiStreamParser(std::string provider,
                                                     const StreamParserOptions& options) {
  return std::make_unique<OpenAiStreamParser>(std::move(provider), options);
}

}  // namespace llmix::adapters
