// Runs the fake OpenAI server until SIGTERM/SIGINT; prints "PORT\n" on stdout once bound.
// Options: --content TEXT (reply text), --no-record (keep no request bodies: long runs).
#include <signal.h>

#include <cstring>
#include <iostream>

#include "tests/fakes/fake_openai.h"

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  llmix::testing::FakeOpenAi fake;
  llmix::testing::FakeReply reply;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--content") == 0 && i + 1 < argc) reply.content = argv[++i];
    if (std::strcmp(argv[i], "--no-record") == 0) fake.SetRecording(false);
  }
  fake.SetDefault(reply);
  std::cout << fake.port() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
