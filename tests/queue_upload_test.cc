// Large local files in a queue node's input (over kMaxInlineFileBytes) are uploaded to the
// provider's storage before the submission: fal's storage (initiate, then PUT to the
// presigned URL) and Replicate's /v1/files (multipart). The submitted input carries the URL
// the upload returned; an upload failure names the node and the input path and submits
// nothing. Also: a 429 to a poll lowers the pool's rate and does not fail the attempt.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "comfyrun/core/util.h"
#include "comfyrun/engine/rate_limit.h"
#include "comfyrun/nodes/queue_nodes.h"
#include "comfyrun/providers/queue_job.h"
#include "support/fake_gemini.h"
#include "support/fake_queue.h"
#include "support/queue_harness.h"

namespace comfyrun {
namespace {

namespace fs = std::filesystem;
using testing::FalInputs;
using testing::LocalRequest;
using testing::QueueHarness;
using testing::ReplicateInputs;

constexpr size_t kBigFile = size_t{12} << 20;  // 12 MiB: over the data: URI limit

/// A 12 MiB file whose bytes depend on their offset, so a reordered or truncated upload shows.
std::string WriteBigFile(const std::string& name) {
  std::string path = fs::absolute(name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::string chunk(1 << 16, '\0');
  for (size_t off = 0; off < kBigFile; off += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>((off + i) * 131 / 7);
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
  return path;
}

/// The one request to `path` among the fake's, or an empty request.
LocalRequest Find(const std::vector<LocalRequest>& reqs, const std::string& method, const std::string& path) {
  for (const auto& r : reqs)
    if (r.method == method && r.path == path) return r;
  return {};
}

}  // namespace

TEST_SUITE("QueueUpload") {
  TEST_CASE("fal: a 12 MiB file goes to fal storage and the input carries its file_url" * doctest::timeout(60)) {
    QueueHarness h;
    h.config.Set("FAL_STORAGE_URL", h.fal.url());
    std::string big = WriteBigFile("queue-big.mp4");
    std::string expected, err;
    REQUIRE(ReadFile(big, &expected, &err));
    Json in = FalInputs("animate");
    in["input"]["video_url"] = big;
    NodeResult r = h.Run(FalNodeKind(), h.Context("fal", in), 40);
    REQUIRE_MESSAGE(r.ok(), r.message);
    auto uploads = h.fal.queue().uploads();
    REQUIRE(uploads.size() == 1);
    CHECK(uploads[0].bytes.size() == kBigFile);
    CHECK(uploads[0].bytes == expected);
    CHECK(uploads[0].filename == "queue-big.mp4");
    CHECK(uploads[0].content_type == "video/mp4");
    auto reqs = h.fal.requests();
    LocalRequest initiate = Find(reqs, "POST", "/storage/upload/initiate");
    CHECK(initiate.Header("authorization") == "Key " + h.fal.key());
    CHECK(Json::parse(initiate.body)["file_name"] == "queue-big.mp4");
    // The presigned PUT carries no key: the URL is the credential.
    for (const auto& req : reqs)
      if (req.method == "PUT") CHECK(req.Header("authorization").empty());
    LocalRequest submit = Find(reqs, "POST", "/fal-ai/flux/schnell");
    REQUIRE(!submit.body.empty());
    std::string sent = Json::parse(submit.body)["video_url"].get<std::string>();
    CHECK(StartsWith(sent, h.fal.url() + "/uploads/"));
    CHECK(sent.find("queue-big.mp4") != std::string::npos);
  }

  TEST_CASE("replicate: a 12 MiB file goes to /v1/files and the input carries urls.get" * doctest::timeout(60)) {
    QueueHarness h;
    std::string big = WriteBigFile("queue-big.bin");
    std::string expected, err;
    REQUIRE(ReadFile(big, &expected, &err));
    Json in = ReplicateInputs("describe");
    in["input"]["images"] = Json::array({"https://example.com/a.png", big});
    NodeResult r = h.Run(ReplicateNodeKind(), h.Context("replicate", in), 40);
    REQUIRE_MESSAGE(r.ok(), r.message);
    auto uploads = h.replicate.queue().uploads();
    REQUIRE(uploads.size() == 1);
    CHECK(uploads[0].bytes == expected);
    CHECK(uploads[0].filename == "queue-big.bin");
    auto reqs = h.replicate.requests();
    LocalRequest file = Find(reqs, "POST", "/v1/files");
    CHECK(file.Header("authorization") == "Bearer " + h.replicate.key());
    CHECK(StartsWith(file.Header("content-type"), "multipart/form-data"));
    LocalRequest submit = Find(reqs, "POST", "/v1/predictions");
    REQUIRE(!submit.body.empty());
    Json images = Json::parse(submit.body)["input"]["images"];
    CHECK(images[0] == "https://example.com/a.png");
    CHECK(StartsWith(images[1].get<std::string>(), h.replicate.url() + "/uploads/"));
  }

  TEST_CASE("an upload failure names the node and the input path, and nothing is submitted" * doctest::timeout(60)) {
    QueueHarness h;
    h.config.Set("FAL_STORAGE_URL", h.fal.url());
    std::string big = WriteBigFile("queue-big-fail.mp4");
    h.fal.queue().FailUploads(1);
    Json in = FalInputs("animate");
    in["input"]["video_url"] = big;
    auto ctx = h.Context("fal", in);
    NodeResult r = h.Run(FalNodeKind(), ctx, 40);
    CHECK_FALSE(r.ok());
    CHECK(r.submission_finished);
    CHECK(r.message.find("node " + ctx->node_id) != std::string::npos);
    CHECK(r.message.find("input.video_url") != std::string::npos);
    CHECK(r.message.find(big) != std::string::npos);
    CHECK(h.fal.queue().Stats()["submissions"] == 0);
    CHECK(h.LastJournal().is_null());

    h.replicate.queue().FailUploads(1);
    Json rin = ReplicateInputs("describe");
    rin["input"]["image"] = big;
    auto rctx = h.Context("replicate", rin);
    NodeResult rr = h.Run(ReplicateNodeKind(), rctx, 40);
    CHECK_FALSE(rr.ok());
    CHECK(rr.message.find("node " + rctx->node_id) != std::string::npos);
    CHECK(rr.message.find("input.image") != std::string::npos);
    CHECK(h.replicate.queue().Stats()["submissions"] == 0);
    CHECK(h.LastJournal().is_null());
  }

  TEST_CASE("small files stay data: URIs; no upload" * doctest::timeout(30)) {
    QueueHarness h;
    h.config.Set("FAL_STORAGE_URL", h.fal.url());
    std::string png = fs::absolute("queue-small.png").string();
    std::string err;
    REQUIRE(WriteFileAtomic(png, testing::FakePngBytes(), &err));
    Json in = FalInputs("small");
    in["input"]["image_url"] = png;
    NodeResult r = h.Run(FalNodeKind(), h.Context("fal", in));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(h.fal.queue().uploads().empty());
    std::string sent = Json::parse(Find(h.fal.requests(), "POST", "/fal-ai/flux/schnell").body)["image_url"];
    CHECK(StartsWith(sent, "data:image/png;base64,"));
  }
}

TEST_SUITE("QueueProviders") {
  TEST_CASE("a 429 to a poll lowers the pool's rate and the attempt goes on" * doctest::timeout(30)) {
    for (const char* provider : {"fal", "replicate"}) {
      CAPTURE(provider);
      QueueHarness h;
      bool fal = std::string(provider) == "fal";
      testing::FakeQueueCore& queue = fal ? h.fal.queue() : h.replicate.queue();
      std::string pool = std::string("poll429-") + provider;
      ProcessRateLimiter().Configure(pool, 10);  // declared 10/s
      queue.Force429Polls(2, 0);                 // Retry-After: 0 keeps the test fast; the rate still drops
      auto ctx = h.Context(provider, fal ? FalInputs("busy polls") : ReplicateInputs("busy polls"));
      ctx->pool = pool;
      NodeResult r = h.Run(fal ? FalNodeKind() : ReplicateNodeKind(), ctx);
      REQUIRE_MESSAGE(r.ok(), r.message);
      CHECK(r.details["pollsRateLimited"] == 2);
      CHECK(queue.accepted() == 1);                       // asked again, never resubmitted
      CHECK(ProcessRateLimiter().CurrentRate(pool) < 8);  // halved, recovering slowly (over 60 s)
    }
  }
}

}  // namespace comfyrun
