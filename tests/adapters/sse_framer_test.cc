// The SSE framer against the WHATWG event-stream parsing rules, split at every byte.
#include "adapters/sse_framer.h"

#include "gtest/gtest.h"

namespace llmix::adapters {
namespace {

std::vector<std::string> Frame(std::string_view body, size_t chunk = 0, bool* discarded = nullptr) {
  SseFramer f;
  std::vector<SseEvent> events;
  if (chunk == 0) chunk = body.size() + 1;
  for (size_t i = 0; i < body.size(); i += chunk) {
    EXPECT_TRUE(f.Feed(body.substr(i, chunk), &events).ok());
  }
  const bool d = f.Finish();
  if (discarded != nullptr) *discarded = d;
  std::vector<std::string> out;
  for (const SseEvent& e : events) out.push_back(e.type + "|" + e.data + "|" + e.id);
  return out;
}

// Same result for every chunk size.
std::vector<std::string> FrameAnySplit(std::string_view body) {
  const std::vector<std::string> whole = Frame(body);
  for (size_t chunk = 1; chunk <= body.size(); ++chunk) {
    EXPECT_EQ(Frame(body, chunk), whole) << "chunks of " << chunk;
  }
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SseFramer f;
    std::vector<SseEvent> events;
    EXPECT_TRUE(f.Feed(body.substr(0, cut), &events).ok());
    EXPECT_TRUE(f.Feed(body.substr(cut), &events).ok());
    EXPECT_EQ(events.size(), whole.size()) << "cut at " << cut;
  }
  return whole;
}

TEST(SseFramerTest, LineEndingsCrLfCrAndLf) {
  EXPECT_EQ(FrameAnySplit("data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\n"),
            (std::vector<std::string>{"message|a|", "message|b|", "message|c|", "message|d|"}));
  // CR then LF in the next chunk is one line end, not an empty line.
  EXPECT_EQ(FrameAnySplit("data: x\r\ndata: y\r\n\r\n"), std::vector<std::string>{"message|x\ny|"});
}

TEST(SseFramerTest, FieldsCommentsAndMultiLineData) {
  EXPECT_EQ(FrameAnySplit(": keep-alive\n"
                          "event: add\n"
                          "data:first\n"
                          "data:  second\n"
                          "data\n"
                          "id: 7\n"
                          "retry: 100\n"
                          "unknown: x\n"
                          "\n"
                          "data: after\n"
                          "\n"),
            (std::vector<std::string>{"add|first\n second\n|7", "message|after|7"}));
}

TEST(SseFramerTest, BlankLinesWithoutDataDispatchNothing) {
  EXPECT_EQ(FrameAnySplit("\n\nevent: lost\n\n: c\n\ndata: x\n\n"),
            std::vector<std::string>{"message|x|"});
  // An empty data line is an event with empty data.
  EXPECT_EQ(FrameAnySplit("data:\n\n"), std::vector<std::string>{"message||"});
}

TEST(SseFramerTest, ByteOrderMarkOnlyAtTheStart) {
  EXPECT_EQ(FrameAnySplit("\xEF\xBB\xBF"
                          "data: a\n\n"),
            std::vector<std::string>{"message|a|"});
  EXPECT_EQ(Frame("data: a\n\n\xEF\xBB\xBF"
                  "data: b\n\n"),
            std::vector<std::string>{"message|a|"});  // a field named "\xEF\xBB\xBFdata"
}

TEST(SseFramerTest, UnterminatedLastEventIsDiscardedAtEnd) {
  bool discarded = false;
  EXPECT_EQ(Frame("data: a\n\ndata: b\n", 0, &discarded), std::vector<std::string>{"message|a|"});
  EXPECT_TRUE(discarded);
  EXPECT_EQ(Frame("data: a\n\ndata: b", 0, &discarded), std::vector<std::string>{"message|a|"});
  EXPECT_TRUE(discarded);
  EXPECT_EQ(Frame("data: a\n\n", 0, &discarded).size(), 1u);
  EXPECT_FALSE(discarded);
  EXPECT_EQ(Frame("data: a\n\n: comment only\n", 0, &discarded).size(), 1u);
  EXPECT_FALSE(discarded);
}

TEST(SseFramerTest, BoundedBuffers) {
  SseFramer f(64);
  std::vector<SseEvent> events;
  ASSERT_TRUE(f.Feed("data: " + std::string(50, 'a') + "\n\n", &events).ok());
  ASSERT_EQ(events.size(), 1u);
  // A line without end grows only to the limit.
  absl::Status s;
  for (int k = 0; k < 100 && s.ok(); ++k) {
    s = f.Feed("bbbbbbbbbb", &events);
    EXPECT_LE(f.buffered_bytes(), 64u);
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "server-sent event larger than 64 bytes");
  // Failed for good: the same error, nothing more parsed.
  EXPECT_EQ(f.Feed("\n\ndata: x\n\n", &events), s);
  EXPECT_EQ(events.size(), 1u);

  // Lines each under the limit, an event over it.
  SseFramer g(64);
  s = absl::OkStatus();
  for (int k = 0; k < 20 && s.ok(); ++k) s = g.Feed("data: 0123456789\n", &events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_LE(g.buffered_bytes(), 64u);
}

}  // namespace
}  // namespace llmix::adapters
