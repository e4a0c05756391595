// Transport guards: the SSRF check on link-local / metadata addresses, NO_PROXY matching, and
// a forward proxy actually carrying upstream requests.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "adapters/http_transport.h"
#include "tests/fakes/recording_proxy.h"
#include "tests/support/process.h"

namespace llmix::adapters {
namespace {

TEST(LinkLocal, ClassifiesAddresses) {
  EXPECT_TRUE(IsLinkLocalOrMetadata("169.254.169.254"));
  EXPECT_TRUE(IsLinkLocalOrMetadata("169.254.0.1"));
  EXPECT_TRUE(IsLinkLocalOrMetadata("fd00:ec2::254"));
  EXPECT_TRUE(IsLinkLocalOrMetadata("fe80::1"));
  EXPECT_TRUE(IsLinkLocalOrMetadata("::ffff:169.254.169.254"));
  EXPECT_FALSE(IsLinkLocalOrMetadata("169.253.255.255"));
  EXPECT_FALSE(IsLinkLocalOrMetadata("127.0.0.1"));
  EXPECT_FALSE(IsLinkLocalOrMetadata("10.0.0.1"));
  EXPECT_FALSE(IsLinkLocalOrMetadata("fd00:ec2::253"));
  EXPECT_FALSE(IsLinkLocalOrMetadata("::1"));
  EXPECT_FALSE(IsLinkLocalOrMetadata("not an ip"));
}

TEST(LinkLocal, MetadataUpstreamsAreRefusedBeforeConnecting) {
  HttpTransport transport;
  for (const char* url : {"http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/v1/x",
                          "https://169.254.10.10:8443/v1/chat/completions"}) {
    HttpRequest req;
    req.url = url;
    req.timeout = absl::Seconds(2);
    HttpResponse r = transport.Post(req);
    EXPECT_EQ(r.failure, TransportFailure::kBadUrl) << url;
    EXPECT_NE(r.failure_detail.find("link-local/metadata"), std::string::npos) << r.failure_detail;
  }
}

TEST(NoProxy, MatchesLikeCurl) {
  EXPECT_TRUE(NoProxyMatches("api.openai.com", "*"));
  EXPECT_TRUE(NoProxyMatches("api.openai.com", "localhost, openai.com"));
  EXPECT_TRUE(NoProxyMatches("api.openai.com", ".openai.com"));
  EXPECT_TRUE(NoProxyMatches("API.OpenAI.com", "api.openai.com"));
  EXPECT_FALSE(NoProxyMatches("api.openai.com", "ai.com"));
  EXPECT_FALSE(NoProxyMatches("api.openai.com", ""));
  EXPECT_FALSE(NoProxyMatches("openai.com.evil", "openai.com"));
}

// A forward proxy stand-in: records the request target it was asked for and answers.
using ::llmix::testing::RecordingProxy;

TEST(Proxy, UpstreamRequestsGoThroughTheProxyUnlessNoProxyMatches) {
  RecordingProxy proxy;
  HttpTransportOptions opts;
  opts.proxy_url = "http://user:pw@127.0.0.1:" + std::to_string(proxy.port());
  opts.no_proxy = "direct.example";
  HttpTransport transport(opts);
  HttpRequest req;
  req.url = "http://upstream.example/v1/chat/completions";
  req.timeout = absl::Seconds(5);
  HttpResponse r = transport.Post(req);
  ASSERT_EQ(r.failure, TransportFailure::kNone) << r.failure_detail;
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(proxy.targets().size(), 1u);
  EXPECT_EQ(proxy.targets()[0], "http://upstream.example:80/v1/chat/completions");  // absolute-form
  EXPECT_EQ(proxy.auth(), "Basic dXNlcjpwdw==");

  req.url = "http://direct.example/v1/chat/completions";  // NO_PROXY: resolved directly, fails
  req.timeout = absl::Seconds(2);
  r = transport.Post(req);
  EXPECT_NE(r.failure, TransportFailure::kNone);
  EXPECT_EQ(proxy.targets().size(), 1u);
}

}  // namespace
}  // namespace llmix::adapters
