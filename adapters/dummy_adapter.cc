#include "adapters/dummy_adapter.h"

#include "absl/strings/str_cat.h"

namespace llmix::adapters {

namespace {

// Text of a message's content: a string, or the text parts of an array.
std::string ContentText(const nlohmann::json& message) {
  auto it = message.find("content");
  if (it == message.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  std::string out;
  if (it->is_array()) {
    for (const auto& part : *it) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        if (!out.empty()) out += " ";
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

// A rough, deterministic token estimate (4 bytes per token, at least 1 for non-empty text).
int64_t Tokens(size_t bytes) { return bytes == 0 ? 0 : static_cast<int64_t>((bytes + 3) / 4); }

}  // namespace

ProviderOutcome DummyAdapter::Send(const ProviderRequest& request) {
  ProviderOutcome out;
  out.http_status = 200;
  std::string last_user;
  size_t prompt_bytes = 0;
  if (request.messages != nullptr && request.messages->is_array()) {
    for (const auto& m : *request.messages) {
      if (!m.is_object()) continue;
      std::string text = ContentText(m);
      prompt_bytes += text.size();
      if (m.value("role", "") == "user") last_user = std::move(text);
    }
  }
  constexpr size_t kEchoLimit = 200;
  if (last_user.size() > kEchoLimit) last_user = last_user.substr(0, kEchoLimit) + "...";
  ProviderResponse& r = out.response;
  r.content = absl::StrCat("[dummy ", request.provider, "/", request.model,
                           "] offline reply to: ", last_user);
  r.model = request.model;
  r.finish_reason = "stop";
  r.usage.input_tokens = Tokens(prompt_bytes);
  r.usage.output_tokens = Tokens(r.content.size());
  r.usage.total_tokens = r.usage.input_tokens + r.usage.output_tokens;
  return out;
}

}  // namespace llmix::adapters
