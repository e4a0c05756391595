// Runs the fake OpenAI server until SIGTERM/SIGINT; prints "PORT\n" on stdout once bound.
// Options: --content TEXT (reply text).
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
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--content") == 0) reply.content = argv[i + 1];
  }
  fake.SetDefault(reply);
  std::cout << fake.port() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
