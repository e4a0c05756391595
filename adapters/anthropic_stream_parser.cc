// Anthropic Messages streaming (`"stream": true`): message_start (model, input usage),
// content_block_start/delta/stop per block (text_delta, thinking_delta, input_json_delta for
// tool_use blocks), message_delta (stop_reason, output usage), message_stop; ping and unknown
// event types are ignored, `error` ends the stream with a kError event. Tool calls are numbered
// among tool_use blocks; the json tool of a json_schema response format streams as content,
// as its input is the answer (AnthropicMessagesAdapter::ParseResponse does the same).
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "adapters/anthropic_messages_adapter.h"
#include "adapters/stream_parser.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

constexpr int64_t kMaxBlockIndex = 4096;

class AnthropicStreamParser final : public StreamParser {
 public:
  AnthropicStreamParser(std::string provider, const StreamParserOptions& options)
      : StreamParser(std::move(provider), "anthropic_messages", options) {}

 private:
  static constexpr int kJsonToolBlock = -1;

  absl::Status OnEvent(const SseEvent& event, std::vector<StreamEvent>* out) override {
    json j;
    if (absl::Status s = ParseObject(event, &j); !s.ok()) return s;
    std::string type = StrField(j, "type");
    if (type.empty()) type = event.type;
    if (type == "error") {
      out->push_back(ErrorEvent(j.value("error", json())));
      set_done();
    } else if (type == "message_start") {
      const json& message = j.value("message", json::object());
      if (!message.is_object()) return Malformed("message_start without a message object");
      EmitModel(message.value("model", json()), out);
      if (auto u = message.find("usage"); u != message.end() && u->is_object()) usage_ = *u;
    } else if (type == "content_block_start") {
      return BlockStart(j, out);
    } else if (type == "content_block_delta") {
      return BlockDelta(j, out);
    } else if (type == "message_delta") {
      const json& delta = j.value("delta", json::object());
      if (std::string stop = delta.is_object() ? StrField(delta, "stop_reason") : "";
          !stop.empty()) {
        Emit(StreamEventKind::kFinish,
             AnthropicMessagesAdapter::FinishReason(stop, json_tool_ && tools_ == 0), out);
      }
      if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
        // Counts in message_delta are cumulative and replace those of message_start.
        if (!usage_.is_object()) usage_ = json::object();
        for (auto it = u->begin(); it != u->end(); ++it) {
          if (!it->is_null()) usage_[it.key()] = *it;
        }
        StreamEvent e;
        e.kind = StreamEventKind::kUsage;
        e.usage = AnthropicMessagesAdapter::ParseUsage(usage_);
        out->push_back(std::move(e));
      }
    } else if (type == "message_stop") {
      set_done();
    }
    // ping, content_block_stop and event types added later: nothing to report.
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> BlockIndex(const json& j) const {
    const auto index = WholeNumber(j.value("index", json()));
    if (!index || *index < 0 || *index >= kMaxBlockIndex) {
      return Malformed("a content block index is not a number in [0, 4096)");
    }
    return *index;
  }

  absl::Status BlockStart(const json& j, std::vector<StreamEvent>* out) {
    auto index = BlockIndex(j);
    if (!index.ok()) return index.status();
    const json& block = j.value("content_block", json());
    if (!block.is_object()) return Malformed("content_block_start without a content_block");
    const std::string type = StrField(block, "type");
    if (type == "text") {
      if (std::string t = StrField(block, "text"); !t.empty()) {
        Emit(StreamEventKind::kContent, std::move(t), out);
      }
    } else if (type == "thinking") {
      if (std::string t = StrField(block, "thinking"); !t.empty()) {
        Emit(StreamEventKind::kThinking, std::move(t), out);
      }
    } else if (type == "tool_use") {
      const std::string name = StrField(block, "name");
      if (name == AnthropicMessagesAdapter::kJsonToolName) {
        json_tool_ = true;
        tool_blocks_[*index] = kJsonToolBlock;
        return absl::OkStatus();
      }
      const int ordinal = tools_++;
      tool_blocks_[*index] = ordinal;
      StreamEvent e;
      e.kind = StreamEventKind::kToolCall;
      e.tool_call.index = ordinal;
      e.tool_call.id = StrField(block, "id");
      e.tool_call.name = name;
      out->push_back(std::move(e));
    }
    return absl::OkStatus();
  }

  absl::Status BlockDelta(const json& j, std::vector<StreamEvent>* out) {
    auto index = BlockIndex(j);
    if (!index.ok()) return index.status();
    const json& delta = j.value("delta", json());
    if (!delta.is_object()) return Malformed("content_block_delta without a delta");
    const std::string type = StrField(delta, "type");
    if (type == "text_delta") {
      if (std::string t = StrField(delta, "text"); !t.empty()) {
        Emit(StreamEventKind::kContent, std::move(t), out);
      }
    } else if (type == "thinking_delta") {
      if (std::string t = StrField(delta, "thinking"); !t.empty()) {
        Emit(StreamEventKind::kThinking, std::move(t), out);
      }
    } else if (type == "input_json_delta") {
      auto block = tool_blocks_.find(*index);
      if (block == tool_blocks_.end()) {
        return Malformed("input_json_delta for a block that is not a tool_use block");
      }
      std::string fragment = StrField(delta, "partial_json");
      if (fragment.empty()) return absl::OkStatus();
      if (block->second == kJsonToolBlock) {
        Emit(StreamEventKind::kContent, std::move(fragment), out);
        return absl::OkStatus();
      }
      StreamEvent e;
      e.kind = StreamEventKind::kToolCall;
      e.tool_call.index = block->second;
      e.tool_call.arguments = std::move(fragment);
      out->push_back(std::move(e));
    }
    // signature_delta, citations_delta: not carried.
    return absl::OkStatus();
  }

  absl::Status OnEnd(std::vector<StreamEvent>*) override { return Cut("before message_stop"); }

  json usage_;
  absl::flat_hash_map<int64_t, int> tool_blocks_;  // block index -> tool ordinal (or json tool)
  int tools_ = 0;
  bool json_tool_ = false;
};

}  // namespace

std::unique_ptr<StreamParser> MakeAnthropicStreamParser(std::string provider,
                                                        const StreamParserOptions& options) {
  return std::make_unique<AnthropicStreamParser>(std::move(provider), options);
}

}  // namespace llmix::adapters
