// The fault matrix runs as one process (one CTest test) so it can end with a one-line summary:
// "fault matrix: N passed, N failed", followed by the failed rows.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

class MatrixSummary : public ::testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Skipped()) return;
    if (info.result()->Passed()) {
      ++passed_;
    } else {
      failed_.push_back(info.name());
    }
  }
  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    std::printf("fault matrix: %d passed, %zu failed\n", passed_, failed_.size());
    for (const std::string& name : failed_) std::printf("  failed: %s\n", name.c_str());
    std::fflush(stdout);
  }

 private:
  int passed_ = 0;
  std::vector<std::string> failed_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new MatrixSummary);
  return RUN_ALL_TESTS();
}
