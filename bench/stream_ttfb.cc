// Time to first byte of a streamed call on loopback: N sequential streaming chat completions
// sent directly to the streaming fake upstream (httplib client, time to the first body byte)
// vs through a real llmix-sidecar process (CallStream over TCP, time to the first
// content_delta). The fake streams 8 content events; cache off. Prints p50/p99 and the ratio.
//   stream_ttfb [N]
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "llmix/sidecar/v1/sidecar.grpc.pb.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double p50_us, p99_us;
};

Stats Summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

double Micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 500;
  const int warmup = 50;
  llmix::testing::FakeOpenAi fake;
  llmix::testing::FakeReply reply;
  llmix::testing::FakeStream stream;
  for (int i = 0; i < 8; ++i) stream.content_pieces.push_back("token" + std::to_string(i) + " ");
  reply.stream = stream;
  fake.SetDefault(reply);
  fake.SetRecording(false);

  const std::string body =
      R"({"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]})";
  httplib::Client direct("http://127.0.0.1:" + std::to_string(fake.port()));
  direct.set_keep_alive(true);
  direct.set_tcp_nodelay(true);
  std::vector<double> direct_us;
  for (int i = 0; i < n + warmup; ++i) {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body;
    req.set_header("Content-Type", "application/json");
    const auto t0 = Clock::now();
    std::optional<Clock::time_point> first;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      if (!first) first = Clock::now();
      return true;
    };
    auto res = direct.send(req);
    if (!res || res->status != 200 || !first) return 1;
    if (i >= warmup) direct_us.push_back(Micros(t0, *first));
  }

  llmix::testing::SidecarProcess sidecar(
      {}, {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "bench-key"}});
  if (!sidecar.ready()) {
    std::fprintf(stderr, "%s\n", sidecar.error().c_str());
    return 1;
  }
  std::vector<double> sidecar_us;
  for (int i = 0; i < n + warmup; ++i) {
    // A different prompt each time would not matter (cache off); the same one keeps it simple.
    auto call = llmix::testing::InlineRequest(R"({"provider":"openai","model":"gpt-4o-mini"})",
                                              "Hi");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const auto t0 = Clock::now();
    auto reader = sidecar.stub().CallStream(&ctx, call);
    llmix::sidecar::v1::CallStreamChunk chunk;
    std::optional<Clock::time_point> first;
    while (reader->Read(&chunk)) {
      if (!first && chunk.has_content_delta()) first = Clock::now();
    }
    if (!reader->Finish().ok() || !first) return 1;
    if (i >= warmup) sidecar_us.push_back(Micros(t0, *first));
  }
  const Stats d = Summarize(direct_us);
  const Stats s = Summarize(sidecar_us);
  std::printf("| target | TTFB p50 (us) | TTFB p99 (us) |\n|---|---|---|\n");
  std::printf("| direct (fake, httplib) | %.0f | %.0f |\n", d.p50_us, d.p99_us);
  std::printf("| sidecar CallStream | %.0f | %.0f |\n", s.p50_us, s.p99_us);
  std::printf("ratio sidecar/direct: p50 %.2f, p99 %.2f (n=%d)\n", s.p50_us / d.p50_us,
              s.p99_us / d.p99_us, n);
  return 0;
}
