// HttpTransport::PostStream against a loopback server that streams chunk by chunk and pauses on
// conditions the test controls (never on sleeps): incremental delivery, time to first byte,
// cancellation closing the upstream connection, error bodies, idle timeout, the SSRF guard.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "adapters/http_transport.h"
#include "adapters/wire_common.h"
#include "tests/support/process.h"

namespace llmix::adapters {
namespace {

using llmix::testing::WaitFor;

// Streams `chunks`; chunk k (k >= 0) is written only once the test released k + 1 chunks.
// After the last chunk it either ends the body or (hold_open) waits for one more release and
// then writes until the client is gone.
class PausingServer {
 public:
  PausingServer(std::vector<std::string> chunks, bool hold_open)
      : chunks_(std::move(chunks)), hold_open_(hold_open) {
    server_.set_tcp_nodelay(true);
    server_.Post("/v1/stream", [this](const httplib::Request&, httplib::Response& res) {
      requests_.fetch_add(1);
      res.set_chunked_content_provider("text/event-stream",
                                       [this](size_t, httplib::DataSink& sink) {
                                         for (size_t k = 0; k < chunks_.size(); ++k) {
                                           if (!WaitReleased(k + 1)) break;
                                           if (!sink.write(chunks_[k].data(), chunks_[k].size()))
                                             return false;
                                         }
                                         if (hold_open_ && WaitReleased(chunks_.size() + 1)) {
                                           for (int n = 0; n < 1000; ++n) {
                                             if (!sink.write(": more\n\n", 8)) {
                                               writes_until_gone_ = n;
                                               gone_.store(true);
                                               return false;
                                             }
                                           }
                                         }
                                         sink.done();
                                         return true;
                                       });
    });
    server_.Post("/v1/limited", [](const httplib::Request&, httplib::Response& res) {
      res.status = 429;
      res.set_content(R"({"error":{"message":"slow down","type":"rate_limit_error"}})",
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    EXPECT_TRUE(WaitFor([this] { return server_.is_running(); }));
  }
  ~PausingServer() {
    Release(1000);
    server_.stop();
    thread_.join();
  }

  void Release(size_t n) {
    absl::MutexLock l(&mu_);
    released_ = std::max(released_, n);
  }
  std::string url(const char* path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() const { return requests_.load(); }
  bool gone() const { return gone_.load(); }
  int writes_until_gone() const { return writes_until_gone_; }

 private:
  bool WaitReleased(size_t n) {
    struct Arg {
      const size_t* released;
      size_t n;
    };
    Arg arg{&released_, n};
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](Arg* a) { return *a->released >= a->n; }, &arg),
                                absl::Seconds(10));
  }

  std::vector<std::string> chunks_;
  const bool hold_open_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  absl::Mutex mu_;
  size_t released_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> gone_{false};
  int writes_until_gone_ = -1;
};

HttpRequest StreamRequest(const std::string& url) {
  HttpRequest r;
  r.url = url;
  r.body = R"({"stream":true})";
  r.timeout = absl::Seconds(20);
  return r;
}

TEST(PostStream, DeliversEachChunkAsItArrives) {
  const std::vector<std::string> chunks = {"data: 1\n\n", "data: 22\n\n", "data: 333\n\n"};
  PausingServer server(chunks, /*hold_open=*/false);
  HttpTransport transport;
  std::vector<std::string> received;
  std::string all;
  StreamHandlers h;
  h.on_response = [&](int status, const ResponseHeaders& headers) {
    EXPECT_EQ(status, 200);
    EXPECT_EQ(headers.at("content-type"), "text/event-stream");
    server.Release(1);  // the first chunk is written only now: after the headers arrived
    return true;
  };
  h.on_body = [&](std::string_view bytes) {
    received.emplace_back(bytes);
    all.append(bytes);
    // The server writes chunk k+1 only after the client has chunk k: a transport that waited
    // for the whole body would never see the next one.
    size_t complete = 0;
    for (size_t k = 0, len = 0; k < chunks.size(); ++k) {
      len += chunks[k].size();
      if (all.size() >= len) complete = k + 1;
    }
    server.Release(complete + 1);
    return true;
  };
  const auto started = std::chrono::steady_clock::now();
  HttpResponse r = transport.PostStream(StreamRequest(server.url("/v1/stream")), h);
  const absl::Duration total = absl::FromChrono(std::chrono::steady_clock::now() - started);
  ASSERT_EQ(r.failure, TransportFailure::kNone) << r.failure_detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(all, "data: 1\n\ndata: 22\n\ndata: 333\n\n");
  ASSERT_GE(received.size(), 3u);
  EXPECT_EQ(chunks[0].rfind(received[0], 0), 0u) << received[0];
  EXPECT_TRUE(r.body.empty());
  EXPECT_GT(r.time_to_first_byte, absl::ZeroDuration());
  EXPECT_LE(r.time_to_first_byte, total);
}

TEST(PostStream, CancelFromAnotherThreadClosesTheUpstreamConnection) {
  PausingServer server({"data: first\n\n"}, /*hold_open=*/true);
  HttpTransport transport;
  StreamCancellation cancel;
  absl::Notification got_first;
  StreamHandlers h;
  h.on_response = [&](int, const ResponseHeaders&) {
    server.Release(1);
    return true;
  };
  h.on_body = [&](std::string_view) {
    if (!got_first.HasBeenNotified()) got_first.Notify();
    return true;
  };
  std::thread canceller([&] {
    got_first.WaitForNotification();
    cancel.Cancel();  // the stream is now blocked reading a silent upstream
  });
  const auto started = std::chrono::steady_clock::now();
  HttpResponse r = transport.PostStream(StreamRequest(server.url("/v1/stream")), h, &cancel);
  canceller.join();
  EXPECT_EQ(r.failure, TransportFailure::kCancelled) << r.failure_detail;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  // The upstream sees its connection closed at its next writes.
  server.Release(2);
  ASSERT_TRUE(WaitFor([&] { return server.gone(); }));
  EXPECT_LT(server.writes_until_gone(), 100);
}

TEST(PostStream, CancelledBeforeStartSendsNothing) {
  PausingServer server({"data: x\n\n"}, false);
  HttpTransport transport;
  StreamCancellation cancel;
  cancel.Cancel();
  HttpResponse r = transport.PostStream(StreamRequest(server.url("/v1/stream")), {}, &cancel);
  EXPECT_EQ(r.failure, TransportFailure::kCancelled);
  EXPECT_EQ(server.requests(), 0);
}

TEST(PostStream, ReceiverReturningFalseStops) {
  PausingServer server({"data: a\n\n", "data: b\n\n"}, false);
  server.Release(1);
  HttpTransport transport;
  int calls = 0;
  StreamHandlers h;
  h.on_body = [&](std::string_view) {
    ++calls;
    return false;
  };
  HttpResponse r = transport.PostStream(StreamRequest(server.url("/v1/stream")), h);
  EXPECT_EQ(r.failure, TransportFailure::kCancelled);
  EXPECT_EQ(r.failure_detail, "the receiver stopped the stream");
  EXPECT_EQ(calls, 1);
}

TEST(PostStream, ErrorStatusBodyIsCollectedNotStreamed) {
  PausingServer server({}, false);
  HttpTransport transport;
  bool body_called = false;
  StreamHandlers h;
  h.on_body = [&](std::string_view) {
    body_called = true;
    return true;
  };
  HttpResponse r = transport.PostStream(StreamRequest(server.url("/v1/limited")), h);
  ASSERT_EQ(r.failure, TransportFailure::kNone) << r.failure_detail;
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(body_called);
  const CallError e = ErrorFromHttp("openai", r);
  EXPECT_EQ(e.code, CallErrorCode::kRateLimited);
  EXPECT_EQ(e.provider_error_type, "rate_limit_error");
  EXPECT_NE(e.message.find("slow down"), std::string::npos);
}

TEST(PostStream, SilentUpstreamHitsTheIdleTimeout) {
  PausingServer server({"data: a\n\n", "data: never\n\n"}, false);
  server.Release(1);  // the second chunk waits for a release that comes only at the end
  HttpTransport transport;
  HttpRequest req = StreamRequest(server.url("/v1/stream"));
  req.idle_timeout = absl::Milliseconds(300);
  std::string all;
  StreamHandlers h;
  h.on_body = [&](std::string_view b) {
    all.append(b);
    return true;
  };
  HttpResponse r = transport.PostStream(req, h);
  EXPECT_EQ(r.failure, TransportFailure::kTimeout) << r.failure_detail;
  EXPECT_EQ(all, "data: a\n\n");
}

TEST(PostStream, LinkLocalUpstreamsAreRefused) {
  HttpTransport transport;
  HttpResponse r = transport.PostStream(StreamRequest("http://169.254.169.254/v1/stream"), {});
  EXPECT_EQ(r.failure, TransportFailure::kBadUrl);
  EXPECT_NE(r.failure_detail.find("link-local/metadata"), std::string::npos);
}

}  // namespace
}  // namespace llmix::adapters
