// Loads the LLMix golden vectors (../shared/fixtures/<family>.json) and decodes their
// tagged values (CONTRACT.md §0) into nlohmann::json:
//   {"$num": "..."}      -> number_float (NaN, ±Infinity, -0, literals rounded to double)
//   {"$undefined": true} -> a `discarded` value (JS undefined; callers treat it as absent)
//   {"$u16": "d800 0061"} -> a string in WTF-8 (UTF-8 that may also hold lone surrogates)
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "nlohmann/json.hpp"

namespace llmix::testing {

struct FixtureCase {
  std::string name;
  nlohmann::json input;
  nlohmann::json expected;
};

// All cases of a family, tags decoded. Aborts the test binary if the file is missing.
std::vector<FixtureCase> LoadFixtureCases(const std::string& family);

// Decodes the §0 tags in place, recursively.
nlohmann::json DecodeFixtureTags(const nlohmann::json& v);

// Parameterised tests over vectors: gtest prints a case by its vector name (found by ADL), and
// FixtureCaseName names the instantiated test after it (non-alphanumerics -> '_').
void PrintTo(const FixtureCase& c, std::ostream* os);
std::string FixtureCaseName(const ::testing::TestParamInfo<FixtureCase>& info);

// Path of a file under the fixtures directory.
std::string FixturePath(const std::string& file);

}  // namespace llmix::testing
