// Closed-loop load generator for bench/run.sh: C connections, each sending its next request
// as soon as the previous answer arrives, for a fixed duration (and at most N requests).
// One tool for every target so the figures compare: HTTP POST (keep-alive, one connection
// per worker) or gRPC llmix.sidecar.v1.Llmix/Call (one channel per worker).
//   load --http URL --body FILE [--header 'K: V']... | --grpc HOST:PORT --request FILE (JSON
//   CallRequest) load --request FILE --grpc-frame OUT   writes the request as a gRPC
//   length-prefixed message
//                                          (the HTTP/2 body of a Call, for h2load) and exits
//        [--connections C] [--duration-s S] [--max-requests N] [--warmup N] [--vary K]
//   --vary K: request i of a connection differs from the others (K distinct requests in all):
//   "{n}" in the HTTP body, or a suffix " #n" on the last gRPC message's text, with n in [0, K)
//   (bench/soak.sh: cache misses that churn the L1 cache).
// Prints one JSON line: requests, errors, rps, p50_us, p99_us, max_us.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "llmix/sidecar/v1/sidecar.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = llmix::sidecar::v1;

struct Args {
  std::string http_url, body_file, grpc_target, request_file, grpc_frame;
  std::vector<std::pair<std::string, std::string>> headers;
  int connections = 1;
  double duration_s = 5;
  long max_requests = 1000000;
  int warmup = 50;
  long vary = 0;  // 0: every request is the same
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Worker {
  std::vector<double> us;
  long errors = 0;
};

// One request: true on success.
using Send = std::function<bool()>;

// The first failure's description, reported once (why a run had errors).
std::mutex first_error_mu;
std::string first_error;
void NoteError(const std::string& e) {
  std::lock_guard<std::mutex> l(first_error_mu);
  if (first_error.empty()) first_error = e;
}

void RunWorker(const Send& send, const Args& a, std::atomic<long>& budget, Clock::time_point end,
               Worker* w) {
  for (int i = 0; i < a.warmup && Clock::now() < end; ++i) send();  // bounded by the run too
  while (Clock::now() < end && budget.fetch_sub(1) > 0) {
    const auto t0 = Clock::now();
    const bool ok = send();
    w->us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!ok) ++w->errors;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--http") a.http_url = v;
    else if (k == "--body") a.body_file = v;
    else if (k == "--grpc") a.grpc_target = v;
    else if (k == "--request") a.request_file = v;
    else if (k == "--grpc-frame") a.grpc_frame = v;
    else if (k == "--connections") a.connections = std::max(1, std::atoi(v.c_str()));
    else if (k == "--duration-s") a.duration_s = std::atof(v.c_str());
    else if (k == "--max-requests") a.max_requests = std::atol(v.c_str());
    else if (k == "--warmup") a.warmup = std::atoi(v.c_str());
    else if (k == "--vary")
      a.vary = std::max(0L, std::atol(v.c_str()));
    else if (k == "--header") {
      auto colon = v.find(':');
      a.headers.emplace_back(v.substr(0, colon), v.substr(colon + 2));
    } else {
      std::fprintf(stderr, "load: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (!a.grpc_frame.empty()) {
    v1::CallRequest request;
    auto st = google::protobuf::util::JsonStringToMessage(ReadFile(a.request_file), &request);
    if (!st.ok()) {
      std::fprintf(stderr, "load: bad --request JSON: %s\n", st.ToString().c_str());
      return 2;
    }
    const std::string msg = request.SerializeAsString();
    std::string frame(1, '\0');  // not compressed
    for (int shift = 24; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((msg.size() >> shift) & 0xff));
    }
    frame += msg;
    std::ofstream(a.grpc_frame, std::ios::binary) << frame;
    return 0;
  }
  if (a.http_url.empty() == a.grpc_target.empty()) {
    std::fprintf(stderr, "load: give exactly one of --http or --grpc\n");
    return 2;
  }

  std::vector<Send> senders;
  std::vector<std::unique_ptr<httplib::Client>> http_clients;
  std::vector<std::unique_ptr<v1::Llmix::Stub>> stubs;
  v1::CallRequest request;
  std::string body, origin, path;
  httplib::Headers headers;
  if (!a.http_url.empty()) {
    body = ReadFile(a.body_file);
    const auto scheme = a.http_url.find("://");
    const auto slash = a.http_url.find('/', scheme + 3);
    origin = a.http_url.substr(0, slash);
    path = a.http_url.substr(slash);
    for (auto& [k, v] : a.headers) headers.emplace(k, v);
  } else {
    auto st = google::protobuf::util::JsonStringToMessage(ReadFile(a.request_file), &request);
    if (!st.ok()) {
      std::fprintf(stderr, "load: bad --request JSON: %s\n", st.ToString().c_str());
      return 2;
    }
  }
  for (int c = 0; c < a.connections; ++c) {
    if (!a.http_url.empty()) {
      http_clients.push_back(std::make_unique<httplib::Client>(origin));
      httplib::Client* cl = http_clients.back().get();
      cl->set_keep_alive(true);
      cl->set_tcp_nodelay(true);
      cl->set_read_timeout(30, 0);
      auto n = std::make_shared<long>(c);
      senders.push_back([cl, &body, &path, &headers, &a, n] {
        std::string varied;
        if (a.vary > 0) {
          varied = body;
          const std::string v = std::to_string(*n % a.vary);
          *n += a.connections;
          for (size_t at = varied.find("{n}"); at != std::string::npos;
               at = varied.find("{n}", at)) {
            varied.replace(at, 3, v);
          }
        }
        auto res = cl->Post(path, headers, a.vary > 0 ? varied : body, "application/json");
        if (res && res->status == 200) return true;
        NoteError(res ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                      : "HTTP transport: " + httplib::to_string(res.error()));
        return false;
      });
    } else {
      grpc::ChannelArguments args;
      args.SetInt("llmix.bench.channel", c);  // one connection per worker
      auto ch = grpc::CreateCustomChannel(a.grpc_target, grpc::InsecureChannelCredentials(), args);
      stubs.push_back(v1::Llmix::NewStub(ch));
      v1::Llmix::Stub* stub = stubs.back().get();
      auto n = std::make_shared<long>(c);
      senders.push_back([stub, &request, &a, n] {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::CallResponse resp;
        grpc::Status st;
        if (a.vary > 0 && request.messages_size() > 0) {
          v1::CallRequest varied = request;
          v1::Message* last = varied.mutable_messages(varied.messages_size() - 1);
          last->set_text(last->text() + " #" + std::to_string(*n % a.vary));
          *n += a.connections;
          st = stub->Call(&ctx, varied, &resp);
        } else {
          st = stub->Call(&ctx, request, &resp);
        }
        if (st.ok() && resp.success()) return true;
        NoteError(!st.ok() ? "gRPC " + std::to_string(st.error_code()) + ": " + st.error_message()
                           : "call failed: " + resp.error().message());
        return false;
      });
    }
  }

  std::atomic<long> budget{a.max_requests};
  std::vector<Worker> workers(a.connections);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(a.duration_s + 0.0));
  for (int c = 0; c < a.connections; ++c) {
    threads.emplace_back(RunWorker, std::cref(senders[c]), std::cref(a), std::ref(budget),
                         end + std::chrono::milliseconds(0), &workers[c]);
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  long errors = 0;
  for (auto& w : workers) {
    all.insert(all.end(), w.us.begin(), w.us.end());
    errors += w.errors;
  }
  if (all.empty()) {
    std::printf("{\"requests\":0,\"errors\":%ld}\n", errors);
    return 1;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(all.size() * p))]; };
  std::printf("{\"requests\":%zu,\"errors\":%ld,\"rps\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f}\n",
              all.size(), errors, all.size() / elapsed, pct(0.5), pct(0.99), all.back());
  if (!first_error.empty()) std::fprintf(stderr, "load: first error: %s\n", first_error.c_str());
  return errors == 0 ? 0 : 1;
}
