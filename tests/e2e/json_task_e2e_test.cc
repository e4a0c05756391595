// JSON tasks end to end: the real binary, a loopback fake OpenAI provider scripted with replies
// that are not JSON, fenced JSON, schema-invalid JSON and valid JSON. Checks what the model is
// sent for a repair, what the caller gets back, the bound on repairs, the cache replay, the
// preset-level setting, the HTTP front door's json_schema response_format and bad schemas.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kSchema[] = R"({
  "type": "object",
  "required": ["name", "age"],
  "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
  "additionalProperties": false
})";

constexpr char kPreset[] = R"(---
name: person
description: Extracts a person as JSON.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: json-model
    caching:
      strategy: memory
      ttl: 600
  llmix-sidecar:
    json:
      maxRepairs: 1
      schema:
        type: object
        required: [name]
        properties:
          name: {type: SCHEMA_TYPE}
---
# demo/person
)";

FakeReply Reply(const std::string& content) {
  FakeReply r;
  r.content = content;
  return r;
}

class JsonTaskE2E : public ::testing::Test {
 protected:
  void Start(const std::string& preset_type = "string") {
    const std::string root = dir_.File("llm");
    fs::create_directories(root + "/source/demo");
    WriteFile(root + "/source/demo/person.mda",
              absl::StrReplaceAll(kPreset, {{"SCHEMA_TYPE", preset_type}}));
    CommandResult published = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
    ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--registry", root, "--max-retries", "0"},
        std::map<std::string, std::optional<std::string>>{{"OPENAI_BASE_URL", fake_.base_url()},
                                                          {"OPENAI_API_KEY", "sk-json"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  // An inline-config call with a JSON task; `caching` adds an in-memory cache.
  static v1::CallRequest Request(const std::string& text, bool caching = false,
                                 std::optional<int> max_repairs = std::nullopt) {
    v1::CallRequest req = InlineRequest(
        caching ? R"({"provider":"openai","model":"json-model","caching":{"strategy":"memory"}})"
                : R"({"provider":"openai","model":"json-model"})",
        text);
    req.mutable_json_task()->set_schema_json(kSchema);
    if (max_repairs) req.mutable_json_task()->set_max_repairs(*max_repairs);
    return req;
  }

  v1::CallResponse Call(const v1::CallRequest& req) {
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  double Metric(const std::string& series) {
    std::string body;
    sidecar_->AdminGet("/metrics", &body);
    return MetricValue(body, series).value_or(0);
  }

  TempDir dir_;
  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(JsonTaskE2E, AReplyThatIsNotJsonIsRepairedWithTheErrorInTheNextRequest) {
  Start();
  fake_.Enqueue(Reply("Sure! The person is Ada, aged 36."));
  fake_.Enqueue(Reply(R"({"name": "Ada", "age": 36})"));
  v1::CallResponse r = Call(Request("Who? Ada, 36."));
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.json(), R"({"name":"Ada","age":36})");
  EXPECT_EQ(r.json_repairs(), 1);
  EXPECT_EQ(r.content(), R"({"name": "Ada", "age": 36})");
  EXPECT_EQ(r.attempts(), 2);
  EXPECT_EQ(r.usage().input_tokens(), 14) << "usage is summed over both calls";

  ASSERT_EQ(fake_.RequestCount(), 2u);
  const std::vector<RecordedRequest> requests = fake_.Requests();
  const json& repair = requests[1].json["messages"];
  ASSERT_EQ(repair.size(), 3u);
  EXPECT_EQ(repair[0], requests[0].json["messages"][0]);
  EXPECT_EQ(repair[1],
            json({{"role", "assistant"}, {"content", "Sure! The person is Ada, aged 36."}}));
  EXPECT_EQ(repair[2]["role"], "user");
  const std::string text = repair[2]["content"];
  EXPECT_THAT(text, ::testing::StartsWith(
                        "Your reply could not be used: the reply is not JSON (JSON parse error at "
                        "byte 0"));
  EXPECT_THAT(text, HasSubstr("and has no ```json block.\nReply again with only the JSON value, "
                              "valid against the required schema, and no other text."));
  EXPECT_EQ(Metric(R"(llmix_json_tasks_total{preset="inline",outcome="valid"})"), 1);
  EXPECT_EQ(Metric(R"(llmix_json_repairs_total{preset="inline"})"), 1);
}

TEST_F(JsonTaskE2E, FencedJsonAmidProseAndThinkingIsAcceptedWithoutARepair) {
  Start();
  fake_.Enqueue(Reply(
      "<think>age is {unclear</think>Here it is:\n```json\n{\"age\": 7, \"name\": \"Bo\"}\n```\n"
      "Anything else?"));
  v1::CallResponse r = Call(Request("Bo is 7"));
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.json(), R"({"age":7,"name":"Bo"})") << "members in the reply's order";
  EXPECT_EQ(r.json_repairs(), 0);
  EXPECT_EQ(r.thinking_content(), "age is {unclear");
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(JsonTaskE2E, SchemaErrorsAreListedWithPointersThenTheValidReplyIsReturned) {
  Start();
  fake_.Enqueue(Reply(R"({"name": 5, "age": -1, "extra": true})"));
  fake_.Enqueue(Reply(R"({"name": "Cy", "age": 40})"));
  v1::CallResponse r = Call(Request("Cy, 40"));
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.json(), R"({"name":"Cy","age":40})");
  EXPECT_EQ(r.json_repairs(), 1);
  ASSERT_EQ(fake_.RequestCount(), 2u);
  const std::string text = fake_.Requests()[1].json["messages"][2]["content"];
  EXPECT_EQ(text,
            "Your reply does not match the required JSON schema:\n"
            "/age: expected a number >= 0, got -1\n"
            "/: property \"extra\" is not allowed\n"
            "/name: expected string, got number\n"
            "Reply again with only the corrected JSON value and no other text.");
}

TEST_F(JsonTaskE2E, RepairsAreBoundedAndTheLastReplyIsKeptOnFailure) {
  Start();
  fake_.SetDefault(Reply("still not json"));
  v1::CallResponse r = Call(Request("?", /*caching=*/false, /*max_repairs=*/2));
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_JSON_INVALID);
  EXPECT_THAT(r.error().message(), HasSubstr("JSON task failed after 2 repairs: the reply is not "
                                             "JSON"));
  EXPECT_EQ(r.content(), "still not json");
  EXPECT_EQ(r.json_repairs(), 2);
  EXPECT_FALSE(r.has_json());
  EXPECT_EQ(fake_.RequestCount(), 3u) << "1 + max_repairs requests";
  EXPECT_EQ(fake_.Requests()[2].json["messages"].size(), 5u);
  EXPECT_EQ(Metric(R"(llmix_json_tasks_total{preset="inline",outcome="invalid"})"), 1);
  EXPECT_EQ(Metric(R"(llmix_json_repairs_total{preset="inline"})"), 2);

  // max_repairs 0: one request, no repair.
  r = Call(Request("?", false, 0));
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_JSON_INVALID);
  EXPECT_EQ(fake_.RequestCount(), 4u);

  // An upstream failure during a task is reported as it is, not as a JSON failure.
  fake_.Enqueue(Reply("not json"));
  FakeReply down;
  down.status = 500;
  fake_.Enqueue(down);
  r = Call(Request("?"));
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_UPSTREAM_ERROR);
  EXPECT_EQ(r.json_repairs(), 1);
  EXPECT_EQ(Metric(R"(llmix_json_tasks_total{preset="inline",outcome="error"})"), 1);
}

TEST_F(JsonTaskE2E, AnIdenticalRequestReplaysEveryAttemptFromTheCache) {
  Start();
  fake_.Enqueue(Reply("no"));
  fake_.Enqueue(Reply(R"({"name":"Di","age":1})"));
  v1::CallResponse first = Call(Request("Di", /*caching=*/true));
  ASSERT_TRUE(first.success()) << first.error().message();
  EXPECT_EQ(fake_.RequestCount(), 2u);
  v1::CallResponse again = Call(Request("Di", /*caching=*/true));
  ASSERT_TRUE(again.success()) << again.error().message();
  EXPECT_EQ(fake_.RequestCount(), 2u) << "both attempts are cache hits";
  EXPECT_EQ(again.json(), first.json());
  EXPECT_EQ(again.json_repairs(), 1);
  EXPECT_EQ(again.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(again.attempts(), 0);
}

TEST_F(JsonTaskE2E, BadTasksAreInvalidArgumentNamingTheField) {
  Start();
  v1::CallRequest req = Request("x");
  req.mutable_json_task()->set_schema_json(R"({"properties":{"age":{"type":"int"}}})");
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(),
              ::testing::StartsWith("json_task.schema_json: /properties/age/type: unknown type "
                                    "\"int\""));

  req.mutable_json_task()->set_schema_json("{not json");
  st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), ::testing::StartsWith("json_task.schema_json: JSON parse error"));

  req.mutable_json_task()->set_schema_json("");
  st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_message(), "json_task.schema_json: required");

  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += R"({"items":)";
  deep += "{}" + std::string(100000, '}');
  req.mutable_json_task()->set_schema_json(deep);
  st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("json_task.schema_json: "));

  req = Request("x", false, 6);
  st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "json_task.max_repairs: expected 0..5, got 6");
  EXPECT_EQ(fake_.RequestCount(), 0u);

  // The process still serves.
  fake_.Enqueue(Reply(R"({"name":"Ed","age":2})"));
  EXPECT_TRUE(Call(Request("Ed")).success());
}

TEST_F(JsonTaskE2E, APresetsJsonSettingAppliesAndTheRequestsTaskWins) {
  Start();
  v1::CallRequest req;
  req.set_preset("demo/person");
  req.add_messages()->set_role("user");
  req.mutable_messages(0)->set_text("Fay");
  fake_.Enqueue(Reply(R"({"nom":"Fay"})"));
  fake_.Enqueue(Reply(R"({"name":"Fay"})"));
  v1::CallResponse r = Call(req);
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.json(), R"({"name":"Fay"})");
  EXPECT_EQ(r.json_repairs(), 1);
  EXPECT_THAT(fake_.Requests()[1].json["messages"][2]["content"].get<std::string>(),
              HasSubstr("/: missing required property \"name\""));
  EXPECT_EQ(Metric(R"(llmix_json_tasks_total{preset="demo/person",outcome="valid"})"), 1);

  // maxRepairs 1 from the preset: two requests, then the failure.
  fake_.SetDefault(Reply("[]"));
  req.mutable_messages(0)->set_text("Gus");
  r = Call(req);
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_JSON_INVALID);
  EXPECT_EQ(r.json_repairs(), 1);
  EXPECT_EQ(fake_.RequestCount(), 4u);

  // The request's own task replaces the preset's: "[]" is valid against {"type":"array"}.
  req.mutable_json_task()->set_schema_json(R"({"type":"array"})");
  r = Call(req);
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.json(), "[]");
}

TEST(JsonTaskConfig, AMalformedPresetSchemaIsRefusedAtPublishNamingTheField) {
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root + "/source/demo");
  WriteFile(root + "/source/demo/person.mda",
            absl::StrReplaceAll(kPreset, {{"SCHEMA_TYPE", "text"}}));
  CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out + r.err,
              HasSubstr("json.schema: /properties/name/type: unknown type \"text\""));

  WriteFile(root + "/source/demo/person.mda",
            absl::StrReplaceAll(kPreset,
                                {{"SCHEMA_TYPE", "string"}, {"maxRepairs: 1", "maxRepairs: 9"}}));
  r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out + r.err, HasSubstr("json.maxRepairs"));
}

TEST_F(JsonTaskE2E, FrontDoorJsonSchemaResponseFormatIsAJsonTask) {
  Start();
  fake_.Enqueue(Reply("```\n{\"name\": \"Hal\"}\n```"));
  fake_.Enqueue(Reply("Done:\n```JSON\n{\"name\": \"Hal\", \"age\": 9.0}\n```"));
  httplib::Client c("http://" + sidecar_->http_address());
  c.set_read_timeout(30, 0);
  const json format = {{"type", "json_schema"},
                       {"json_schema", {{"name", "person"}, {"schema", json::parse(kSchema)}}}};
  json body = {{"model", "openai:json-model"},
               {"messages", {{{"role", "user"}, {"content", "Hal, 9"}}}},
               {"response_format", format}};
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["choices"][0]["message"]["content"], R"({"name":"Hal","age":9})")
      << "the content is the validated JSON";
  EXPECT_EQ(res->get_header_value("x-llmix-json-repairs"), "1");
  ASSERT_EQ(fake_.RequestCount(), 2u);
  EXPECT_EQ(fake_.Requests()[0].json["response_format"], format) << "still sent to the provider";
  EXPECT_THAT(fake_.Requests()[1].json["messages"][2]["content"].get<std::string>(),
              HasSubstr("/: missing required property \"age\""));

  // A bad schema is a 400 naming the OpenAI field.
  body["response_format"]["json_schema"]["schema"] = {{"type", "date"}};
  res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "response_format.json_schema.schema");

  // Still invalid after the repairs: 502 with code json_invalid.
  fake_.SetDefault(Reply("nope"));
  body["response_format"]["json_schema"]["schema"] = json::parse(kSchema);
  res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "json_invalid");
}

}  // namespace
}  // namespace llmix::testing
