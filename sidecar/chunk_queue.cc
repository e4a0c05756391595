#include "sidecar/chunk_queue.h"

#include <utility>

namespace llmix::sidecar {

bool ChunkQueue::OnDelta(pipeline::StreamDelta delta) {
  Item item;
  size_t bytes = 0;
  switch (delta.kind) {
    case pipeline::StreamDelta::Kind::kContent:
      bytes = delta.text.size();
      item.chunk.set_content_delta(std::move(delta.text));
      break;
    case pipeline::StreamDelta::Kind::kThinking:
      bytes = delta.text.size();
      item.chunk.set_thinking_delta(std::move(delta.text));
      break;
    case pipeline::StreamDelta::Kind::kToolCall: {
      v1::ToolCallDelta* t = item.chunk.mutable_tool_call_delta();
      bytes = delta.tool_call.id.size() + delta.tool_call.name.size() +
              delta.tool_call.arguments.size();
      t->set_index(delta.tool_call.index);
      t->set_id(std::move(delta.tool_call.id));
      t->set_name(std::move(delta.tool_call.name));
      t->set_arguments_delta(std::move(delta.tool_call.arguments));
      break;
    }
  }
  std::function<void()> ready;
  {
    absl::MutexLock l(&mu_);
    auto room = [this, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      // One delta always fits into an empty queue, however large (the upstream parser bounds it).
      return closed_ || deltas_ == 0 ||
             (deltas_ < limits_.max_chunks && bytes_ + bytes <= limits_.max_bytes);
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&room), limits_.stall_timeout)) {
      slow_ = true;
      return false;
    }
    if (closed_) return false;
    if (!first_delta_at_) first_delta_at_ = std::chrono::steady_clock::now();
    items_.push_back({std::move(item), bytes, true});
    bytes_ += bytes;
    deltas_ += 1;
    if (armed_) {
      armed_ = false;
      ready = on_ready_;
    }
  }
  if (ready) ready();
  return true;
}

void ChunkQueue::PushClosing(Item item) {
  std::function<void()> ready;
  {
    absl::MutexLock l(&mu_);
    items_.push_back({std::move(item), 0, false});
    if (armed_) {
      armed_ = false;
      ready = on_ready_;
    }
  }
  if (ready) ready();
}

ChunkQueue::Item ChunkQueue::Pop() {
  absl::MutexLock l(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !items_.empty(); };
  mu_.Await(absl::Condition(&ready));
  return TakeFront();
}

std::optional<ChunkQueue::Item> ChunkQueue::TryPop() {
  absl::MutexLock l(&mu_);
  if (items_.empty()) {
    armed_ = true;
    return std::nullopt;
  }
  return TakeFront();
}

ChunkQueue::Item ChunkQueue::TakeFront() {
  Entry e = std::move(items_.front());
  items_.pop_front();
  bytes_ -= e.bytes;
  if (e.delta) deltas_ -= 1;
  return std::move(e.item);
}

void ChunkQueue::SetOnReady(std::function<void()> on_ready) {
  absl::MutexLock l(&mu_);
  on_ready_ = std::move(on_ready);
}

void ChunkQueue::Close() {
  absl::MutexLock l(&mu_);
  closed_ = true;
}

bool ChunkQueue::slow_consumer() const {
  absl::MutexLock l(&mu_);
  return slow_;
}

std::optional<std::chrono::steady_clock::time_point> ChunkQueue::first_delta_at() const {
  absl::MutexLock l(&mu_);
  return first_delta_at_;
}

}  // namespace llmix::sidecar
