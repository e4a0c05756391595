// The bounded per-call chunk queue between a streamed call's worker and its writer.
#include "sidecar/chunk_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace llmix::sidecar {
namespace {

pipeline::StreamDelta Content(std::string text) {
  return {pipeline::StreamDelta::Kind::kContent, std::move(text), {}};
}

TEST(ChunkQueue, KeepsOrderAndConvertsDeltas) {
  ChunkQueue q;
  ASSERT_TRUE(q.OnDelta(Content("a")));
  ASSERT_TRUE(q.OnDelta({pipeline::StreamDelta::Kind::kThinking, "t", {}}));
  ASSERT_TRUE(q.OnDelta({pipeline::StreamDelta::Kind::kToolCall, "", {1, "id", "fn", "{\"a\""}}));
  ChunkQueue::Item last;
  last.final = true;
  q.PushClosing(std::move(last));
  EXPECT_EQ(q.Pop().chunk.content_delta(), "a");
  EXPECT_EQ(q.Pop().chunk.thinking_delta(), "t");
  const auto tool = q.Pop().chunk.tool_call_delta();
  EXPECT_EQ(tool.index(), 1);
  EXPECT_EQ(tool.name(), "fn");
  EXPECT_EQ(tool.arguments_delta(), "{\"a\"");
  EXPECT_TRUE(q.Pop().final);
  EXPECT_TRUE(q.first_delta_at().has_value());
}

TEST(ChunkQueue, AFullQueueGivesUpOnAReaderThatDoesNotRead) {
  ChunkQueue q({/*max_chunks=*/2, /*max_bytes=*/1 << 20, absl::Milliseconds(50)});
  ASSERT_TRUE(q.OnDelta(Content("1")));
  ASSERT_TRUE(q.OnDelta(Content("2")));
  EXPECT_FALSE(q.OnDelta(Content("3")));  // waited 50 ms, nobody read
  EXPECT_TRUE(q.slow_consumer());
  // Closing items never wait.
  ChunkQueue::Item last;
  last.final = true;
  q.PushClosing(std::move(last));
  EXPECT_EQ(q.Pop().chunk.content_delta(), "1");
}

TEST(ChunkQueue, ByteLimitAndAReaderThatCatchesUp) {
  ChunkQueue q({64, /*max_bytes=*/4, absl::Seconds(30)});
  ASSERT_TRUE(q.OnDelta(Content("abc")));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    pushed = q.OnDelta(Content("de"));  // 5 bytes > 4: waits for the reader
  });
  EXPECT_EQ(q.Pop().chunk.content_delta(), "abc");
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(q.Pop().chunk.content_delta(), "de");
}

TEST(ChunkQueue, CloseRefusesDeltasAndWakesAWaitingProducer) {
  ChunkQueue q({1, 1 << 20, absl::Seconds(30)});
  ASSERT_TRUE(q.OnDelta(Content("1")));
  std::atomic<bool> result{true};
  std::thread producer([&] { result = q.OnDelta(Content("2")); });
  q.Close();
  producer.join();
  EXPECT_FALSE(result);
  EXPECT_FALSE(q.slow_consumer());
}

TEST(ChunkQueue, OnReadyRunsWhenAnItemArrivesAfterAnEmptyTryPop) {
  ChunkQueue q;
  int ready = 0;
  q.SetOnReady([&] { ++ready; });
  EXPECT_FALSE(q.TryPop().has_value());
  ASSERT_TRUE(q.OnDelta(Content("x")));
  EXPECT_EQ(ready, 1);
  ASSERT_TRUE(q.OnDelta(Content("y")));
  EXPECT_EQ(ready, 1);  // not armed again until TryPop finds the queue empty
  EXPECT_EQ(q.TryPop()->chunk.content_delta(), "x");
  EXPECT_EQ(q.TryPop()->chunk.content_delta(), "y");
  EXPECT_FALSE(q.TryPop().has_value());
  ChunkQueue::Item last;
  last.final = true;
  q.PushClosing(std::move(last));
  EXPECT_EQ(ready, 2);
}

}  // namespace
}  // namespace llmix::sidecar
