#include "tests/support/fixtures.h"

#include "common/js_text.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace llmix::testing {

namespace {

std::string DecodeU16(const std::string& spec) {
  std::vector<uint32_t> units;
  std::istringstream in(spec);
  std::string tok;
  while (in >> tok) units.push_back(static_cast<uint32_t>(std::stoul(tok, nullptr, 16)));
  std::string out;
  for (size_t i = 0; i < units.size(); ++i) {
    uint32_t u = units[i];
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < units.size() && units[i + 1] >= 0xDC00 &&
        units[i + 1] <= 0xDFFF) {
      AppendWtf8(0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00), out);
      ++i;
    } else {
      AppendWtf8(u, out);
    }
  }
  return out;
}

}  // namespace

nlohmann::json DecodeFixtureTags(const nlohmann::json& v) {
  if (v.is_object()) {
    if (v.size() == 1 && v.contains("$num") && v["$num"].is_string()) {
      return nlohmann::json(std::strtod(v["$num"].get<std::string>().c_str(), nullptr));
    }
    if (v.size() == 1 && v.contains("$undefined")) {
      return nlohmann::json(nlohmann::json::value_t::discarded);
    }
    if (v.size() == 1 && v.contains("$u16") && v["$u16"].is_string()) {
      return nlohmann::json(DecodeU16(v["$u16"].get<std::string>()));
    }
    nlohmann::json out = nlohmann::json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = DecodeFixtureTags(it.value());
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : v) out.push_back(DecodeFixtureTags(x));
    return out;
  }
  return v;
}

void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.name; }

std::string FixtureCaseName(const ::testing::TestParamInfo<FixtureCase>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

std::string FixturePath(const std::string& file) {
  const char* dir = std::getenv("LLMIX_FIXTURES_DIR");
  return std::string(dir != nullptr ? dir : LLMIX_FIXTURES_DIR) + "/" + file;
}

std::vector<FixtureCase> LoadFixtureCases(const std::string& family) {
  std::ifstream f(FixturePath(family + ".json"));
  if (!f) {
    std::cerr << "fixture file missing: " << FixturePath(family + ".json") << "\n";
    std::abort();
  }
  nlohmann::json doc = nlohmann::json::parse(f);
  std::vector<FixtureCase> cases;
  for (const auto& c : doc.at("cases")) {
    cases.push_back({c.at("name").get<std::string>(), DecodeFixtureTags(c.value("input", nlohmann::json())),
                     DecodeFixtureTags(c.value("expected", nlohmann::json()))});
  }
  return cases;
}

}  // namespace llmix::testing
