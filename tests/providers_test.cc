// Generation node kinds against the in-process fakes (tests/support/fake_gemini, fake_sora):
// success paths, every scripted fault and its error type, re-attachment, download re-fetch,
// redirects that must not carry the key, offline rendering, preflight and the model table.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>

#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/nodes/generation_nodes.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/preflight.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/remote_job.h"
#include "support/fake_gemini.h"
#include "support/fake_sora.h"

namespace comfyrun {
namespace {

namespace fs = std::filesystem;
using testing::FakeFault;
using testing::FakeGemini;
using testing::FakeSora;

/// One HttpLoop and Config pointed at the fakes; runs node kinds and waits for `done`.
struct Harness {
  FakeGemini gemini;
  FakeSora sora;
  HttpLoop loop;
  Config config;
  std::mutex mu;
  std::vector<Json> journal;  // RecordSubmission calls, with the fake's poll count at the time

  // Worker threads of jobs (offline renders, checks) post to `loop`: they end before it goes.
  ~Harness() { JoinOffLoopThreads(); }

  Harness() {
    config.gemini_api_key = gemini.api_key();
    config.gemini_base_url = gemini.base_url();
    config.openai_api_key = sora.api_key();
    config.openai_base_url = sora.base_url();
    Redactor::AddSecret(gemini.api_key());
    Redactor::AddSecret(sora.api_key());
  }

  std::shared_ptr<NodeContext> Context(const std::string& type, Json inputs, Json submission = nullptr) {
    static int counter = 0;
    auto ctx = std::make_shared<NodeContext>();
    ctx->run_id = "run";
    ctx->node_id = type + "_" + std::to_string(++counter);
    ctx->type = type;
    ctx->inputs = std::move(inputs);
    ctx->node_dir = fs::absolute(fs::path("nodes") / ctx->node_id).string();
    fs::create_directories(ctx->node_dir);
    ctx->run_dir = fs::absolute("nodes").string();
    ctx->attempt_timeout = 20;
    ctx->config = &config;
    ctx->submission = std::move(submission);
    ctx->record_submission = [this](const Json& s) {
      std::lock_guard<std::mutex> lock(mu);
      Json entry = s;
      entry["_geminiPolls"] = gemini.polls();
      entry["_soraPolls"] = sora.polls();
      journal.push_back(entry);
    };
    return ctx;
  }

  NodeResult Run(NodeKind* kind, const std::shared_ptr<NodeContext>& ctx, double limit = 25) {
    auto promise = std::make_shared<std::promise<NodeResult>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    std::future<NodeResult> future = promise->get_future();
    kind->Start(ctx, LoopServices{&loop, nullptr}, [promise, calls](NodeResult r) {
      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
    });
    if (future.wait_for(std::chrono::duration<double>(limit)) != std::future_status::ready) {
      kind->Cancel(ctx);
      FAIL("the node did not finish within ", limit, "s");
    }
    NodeResult r = future.get();
    CHECK(calls->load() == 1);
    CheckNoSecrets(r);
    return r;
  }

  void CheckNoSecrets(const NodeResult& r) {
    std::string all = r.message + r.outputs.dump() + r.details.dump();
    CHECK(all.find(gemini.api_key()) == std::string::npos);
    CHECK(all.find(sora.api_key()) == std::string::npos);
  }

  Json LastJournal() {
    std::lock_guard<std::mutex> lock(mu);
    return journal.empty() ? Json() : journal.back();
  }
};

std::string WriteReferencePng(const std::string& name) {
  std::string path = fs::absolute(name).string();
  std::string err;
  REQUIRE(WriteFileAtomic(path, testing::FakePngBytes(), &err));
  return path;
}

Json VeoInputs(const std::string& prompt, int seconds = 4) {
  return {{"prompt", prompt},      {"model", "veo3-fast"}, {"duration", seconds},
          {"aspectRatio", "16:9"}, {"resolution", "720p"}, {"pollInterval", 0.02}};
}

Json SoraInputs(const std::string& prompt, int seconds = 4) {
  return {{"prompt", prompt},      {"model", "sora-2"},    {"duration", seconds},
          {"aspectRatio", "16:9"}, {"resolution", "720p"}, {"pollInterval", 0.02}};
}

}  // namespace

TEST_SUITE("Providers") {
  TEST_CASE("gemini image with a reference image is written, validated and priced" * doctest::timeout(60)) {
    Harness h;
    std::string ref = WriteReferencePng("ref.png");
    auto ctx = h.Context("character_image", {{"characterPrompt", "a robot barista"},
                                             {"model", "nanobanana"},
                                             {"referenceImages", Json::array({ref})},
                                             {"aspectRatio", "16:9"},
                                             {"imageSize", "1K"},
                                             {"preserveFeatures", true}});
    NodeResult r = h.Run(ImageGenerationNodeKind(), ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    std::string path = r.outputs["characterImagePath"].get<std::string>();
    CHECK(fs::path(path).is_absolute());
    CHECK(path == r.outputs["imagePath"].get<std::string>());
    CHECK(fs::file_size(path) == testing::FakePngBytes().size());
    CHECK(r.outputs["mimeType"] == "image/png");
    CHECK(r.provider == "gemini");
    CHECK(r.model == "gemini-3.1-flash-image");
    CHECK(r.cost == doctest::Approx(0.039));
    CHECK(r.outputs["cost"].get<double>() == doctest::Approx(0.039));
    Json body = h.gemini.last_generate_body();
    const Json& parts = body["contents"][0]["parts"];
    REQUIRE(parts.size() == 2);
    CHECK(parts[0]["text"].get<std::string>().find("a robot barista") == 0);
    CHECK(parts[1]["inlineData"]["mimeType"] == "image/png");
    CHECK(Base64Decode(parts[1]["inlineData"]["data"].get<std::string>()) == testing::FakePngBytes());
    CHECK(body["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9");
    CHECK(body["generationConfig"]["imageConfig"]["imageSize"] == "1K");
    CHECK(body["generationConfig"]["responseModalities"] == Json::array({"TEXT", "IMAGE"}));
    // The key went in the header, never in the URL.
    for (const auto& req : h.gemini.requests()) {
      CHECK(req.Header("x-goog-api-key") == h.gemini.api_key());
      CHECK(!req.HasQueryParam("key"));
    }
    CHECK(h.gemini.submissions("a robot barista") == 1);
  }

  TEST_CASE("gemini image replies without an image are typed and carry the reason" * doctest::timeout(60)) {
    Harness h;
    NodeResult blocked = h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "x [blocked]"}}));
    CHECK(blocked.error == ErrorType::kContentBlocked);
    CHECK(blocked.message.find("SAFETY") != std::string::npos);
    CHECK(blocked.cost == 0);

    NodeResult safety =
        h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "y [image-safety]"}}));
    CHECK(safety.error == ErrorType::kContentBlocked);
    CHECK(safety.message.find("IMAGE_SAFETY") != std::string::npos);

    NodeResult none = h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "z [no-image]"}}));
    CHECK(none.error == ErrorType::kNoImage);
    CHECK(none.message.find("NO_IMAGE") != std::string::npos);
    CHECK(none.message.find("describe that in words") != std::string::npos);

    h.gemini.AddFault(FakeGemini::Endpoint::kGenerateContent, {FakeFault::kBlocked});
    CHECK(h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "fine"}})).error ==
          ErrorType::kContentBlocked);
    CHECK(IsNeverRetryable(ErrorType::kContentBlocked));
    CHECK(IsNeverRetryable(ErrorType::kNoImage));
  }

  TEST_CASE("gemini image faults map to error types and retry hints" * doctest::timeout(90)) {
    Harness h;
    auto run = [&](FakeFault fault, double hint = 53) {
      h.gemini.AddFault(FakeGemini::Endpoint::kGenerateContent, {fault, hint});
      auto ctx = h.Context("character_image", {{"prompt", "a cat"}});
      ctx->attempt_timeout = 1.5;
      return h.Run(ImageGenerationNodeKind(), ctx);
    };
    NodeResult limited = run(FakeFault::kRateLimit);
    CHECK(limited.error == ErrorType::kRateLimited);
    CHECK(limited.retry_after == doctest::Approx(53));
    CHECK(run(FakeFault::kServerError).error == ErrorType::kUnavailable);
    CHECK(run(FakeFault::kReset).error == ErrorType::kUnavailable);
    NodeResult stalled = run(FakeFault::kStall, 20);
    CHECK(stalled.error == ErrorType::kTimeout);
    CHECK(run(FakeFault::kMalformedJson).error == ErrorType::kUnavailable);
    CHECK(run(FakeFault::kTruncate).error == ErrorType::kUnavailable);
    NodeResult bad_key = run(FakeFault::kBadKey);
    CHECK(bad_key.error == ErrorType::kAuth);
    CHECK(bad_key.message.find("API_KEY_INVALID") != std::string::npos);
    CHECK(bad_key.message.find("GEMINI_API_KEY") != std::string::npos);
    NodeResult missing = run(FakeFault::kNotFound);
    CHECK(missing.error == ErrorType::kInvalidInput);
    CHECK(missing.message.find("gemini-3.1-flash-image") != std::string::npos);
    // Only the truncated reply was a generated (and paid) image; nothing else reached the model.
    CHECK(h.gemini.total_submissions() == 1);

    // A wrong key in the configuration: the fake answers 400 API_KEY_INVALID.
    h.config.gemini_api_key = "wrong-key-abcdefgh";
    Redactor::AddSecret(h.config.gemini_api_key);
    NodeResult wrong = h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "a cat"}}));
    CHECK(wrong.error == ErrorType::kAuth);
    CHECK(wrong.message.find("wrong-key-abcdefgh") == std::string::npos);
    // No key at all: refused before any request.
    h.config.gemini_api_key.clear();
    size_t before = h.gemini.requests().size();
    NodeResult none = h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "a cat"}}));
    CHECK(none.error == ErrorType::kAuth);
    CHECK(none.message.find("GEMINI_API_KEY") != std::string::npos);
    CHECK(h.gemini.requests().size() == before);
  }

  TEST_CASE("veo submits, journals before polling, polls and downloads" * doctest::timeout(60)) {
    Harness h;
    std::string ref = WriteReferencePng("first.png");
    Json in = VeoInputs("a robot waves", 4);
    in["characterImagePath"] = ref;
    in["negativePrompt"] = "blur";
    h.gemini.set_polls_until_done(3);
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", in));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "veo");
    CHECK(r.model == "veo-3.1-fast-generate-preview");
    CHECK(r.cost == doctest::Approx(0.15 * 4));
    CHECK(r.outputs["duration"].get<double>() == doctest::Approx(4).epsilon(0.1));
    CHECK(fs::exists(r.outputs["videoPath"].get<std::string>()));
    CHECK(fs::path(r.outputs["videoPath"].get<std::string>()).filename() == "video.mp4");
    CHECK(StartsWith(r.outputs["jobId"].get<std::string>(), "models/veo-3.1-fast-generate-preview/operations/"));
    CHECK(r.submission_finished);
    Json j = h.LastJournal();
    CHECK(j["provider"] == "veo");
    CHECK(j["operation"] == r.outputs["jobId"]);
    CHECK(j["_geminiPolls"] == 0);  // journaled before the first poll
    CHECK(h.gemini.polls() == 3);
    Json body = h.gemini.last_predict_body();
    CHECK(body["instances"][0]["prompt"] == "a robot waves");
    CHECK(Base64Decode(body["instances"][0]["image"]["bytesBase64Encoded"].get<std::string>()) ==
          testing::FakePngBytes());
    CHECK(body["instances"][0]["image"]["mimeType"] == "image/png");
    CHECK(body["parameters"]["durationSeconds"].is_number_integer());
    CHECK(body["parameters"]["durationSeconds"] == 4);
    CHECK(body["parameters"]["aspectRatio"] == "16:9");
    CHECK(body["parameters"]["resolution"] == "720p");
    CHECK(body["parameters"]["negativePrompt"] == "blur");
    CHECK(h.gemini.submissions("a robot waves") == 1);
  }

  TEST_CASE("veo inline encodedVideo is decoded" * doctest::timeout(60)) {
    FakeGemini::Options o;
    o.inline_video = true;
    Harness h;
    FakeGemini inline_fake(o);
    h.config.gemini_base_url = inline_fake.base_url();
    h.config.gemini_api_key = inline_fake.api_key();
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("inline clip", 6)));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.outputs["duration"].get<double>() == doctest::Approx(6).epsilon(0.1));
    CHECK(inline_fake.downloads() == 0);
  }

  TEST_CASE("veo filtered and failed operations are typed" * doctest::timeout(60)) {
    Harness h;
    NodeResult rai = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a fight [rai]")));
    CHECK(rai.error == ErrorType::kContentBlocked);
    CHECK(rai.message.find("You have not been charged") != std::string::npos);
    CHECK(rai.details["raiMediaFilteredCount"] == 1);
    CHECK(rai.submission_finished);
    CHECK(rai.cost == 0);

    h.gemini.AddFault(FakeGemini::Endpoint::kPredict, {FakeFault::kBlocked});
    CHECK(h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("calm sea"))).error ==
          ErrorType::kContentBlocked);

    NodeResult failed = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("odd [op-error]")));
    CHECK(failed.error == ErrorType::kInvalidInput);
    CHECK(failed.message.find("could not be processed") != std::string::npos);
    CHECK(failed.submission_finished);
  }

  TEST_CASE("veo submit faults map to error types" * doctest::timeout(90)) {
    Harness h;
    auto run = [&](FakeFault fault) {
      h.gemini.AddFault(FakeGemini::Endpoint::kPredict, {fault, 53});
      auto ctx = h.Context("video_generation", VeoInputs("a dog"));
      ctx->attempt_timeout = 1.5;
      return h.Run(VideoGenerationNodeKind(), ctx);
    };
    NodeResult limited = run(FakeFault::kRateLimit);
    CHECK(limited.error == ErrorType::kRateLimited);
    CHECK(limited.retry_after == doctest::Approx(53));
    CHECK(run(FakeFault::kServerError).error == ErrorType::kUnavailable);
    CHECK(run(FakeFault::kReset).error == ErrorType::kUnavailable);
    CHECK(run(FakeFault::kMalformedJson).error == ErrorType::kUnavailable);
    CHECK(run(FakeFault::kBadKey).error == ErrorType::kAuth);
    h.gemini.AddFault(FakeGemini::Endpoint::kPredict, {FakeFault::kStall, 20});
    auto ctx = h.Context("video_generation", VeoInputs("a dog"));
    ctx->attempt_timeout = 1;
    CHECK(h.Run(VideoGenerationNodeKind(), ctx).error == ErrorType::kTimeout);
    CHECK(h.gemini.total_submissions() == 0);
    CHECK(h.LastJournal().is_null());
  }

  TEST_CASE("veo poll failures keep the submission and re-attach makes no new submission" * doctest::timeout(60)) {
    Harness h;
    h.gemini.AddFault(FakeGemini::Endpoint::kOperation, {FakeFault::kServerError}, kMaxPollFailures);
    NodeResult first = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a storm")));
    CHECK(first.error == ErrorType::kUnavailable);
    CHECK_FALSE(first.submission_finished);
    CHECK(first.cost == 0);
    Json submission = h.LastJournal();
    REQUIRE(submission["provider"] == "veo");
    CHECK(h.gemini.submissions("a storm") == 1);

    // The retry (or a resume after kill -9) gets the journaled submission and only polls.
    NodeResult second =
        h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a storm"), submission));
    REQUIRE_MESSAGE(second.ok(), second.message);
    CHECK(h.gemini.submissions("a storm") == 1);
    CHECK(second.outputs["jobId"] == submission["operation"]);
    CHECK(second.cost == doctest::Approx(0.6));

    // A single poll hiccup is absorbed within the attempt.
    h.gemini.AddFault(FakeGemini::Endpoint::kOperation, {FakeFault::kReset});
    NodeResult third = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a breeze")));
    CHECK_MESSAGE(third.ok(), third.message);
    CHECK(h.gemini.submissions("a breeze") == 1);
  }

  TEST_CASE("veo re-attach to an operation the provider forgot submits anew next time" * doctest::timeout(60)) {
    Harness h;
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a boat")));
    REQUIRE(r.ok());
    Json submission = h.LastJournal();
    h.gemini.ForgetOperations();
    NodeResult again = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a boat"), submission));
    CHECK(again.error == ErrorType::kUnavailable);
    CHECK(again.submission_finished);
    CHECK(again.message.find("submits anew") != std::string::npos);
    CHECK(h.gemini.submissions("a boat") == 1);
  }

  TEST_CASE("veo truncated downloads are fetched again without a new submission" * doctest::timeout(60)) {
    Harness h;
    h.gemini.AddFault(FakeGemini::Endpoint::kDownload, {FakeFault::kTruncate});
    h.gemini.AddFault(FakeGemini::Endpoint::kDownload, {FakeFault::kServerError});
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a train", 8)));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(h.gemini.downloads() == 3);
    CHECK(h.gemini.submissions("a train") == 1);
    CHECK(r.outputs["duration"].get<double>() == doctest::Approx(8).epsilon(0.1));

    // Always truncated: the attempt fails but keeps the job for the next attempt.
    h.gemini.AddFault(FakeGemini::Endpoint::kDownload, {FakeFault::kTruncate}, kMaxDownloadTries);
    NodeResult bad = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a plane")));
    CHECK(bad.error == ErrorType::kUnavailable);
    CHECK_FALSE(bad.submission_finished);
    NodeResult resumed =
        h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a plane"), h.LastJournal()));
    CHECK_MESSAGE(resumed.ok(), resumed.message);
    CHECK(h.gemini.submissions("a plane") == 1);
  }

  TEST_CASE("veo download redirected to another port never carries the key" * doctest::timeout(60)) {
    Harness h;
    h.gemini.set_redirect_downloads(true);
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a bridge")));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(h.gemini.redirect_target_requests() >= 1);
    CHECK_FALSE(h.gemini.redirect_target_saw_key());
  }

  TEST_CASE("veo download with a duration other than requested is OutputInvalid" * doctest::timeout(60)) {
    Harness h;
    // Re-attach claiming 8 s to an operation that produced 4 s.
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a clock", 4)));
    REQUIRE(r.ok());
    Json submission = h.LastJournal();
    submission["durationSeconds"] = 8;
    NodeResult wrong =
        h.Run(VideoGenerationNodeKind(), h.Context("video_generation", VeoInputs("a clock", 8), submission));
    CHECK(wrong.error == ErrorType::kOutputInvalid);
    CHECK(wrong.message.find("requested") != std::string::npos);
  }

  TEST_CASE("cancel stops polling promptly and keeps the submission" * doctest::timeout(30)) {
    Harness h;
    h.gemini.set_polls_until_done(100000);
    auto ctx = h.Context("video_generation", VeoInputs("forever"));
    auto promise = std::make_shared<std::promise<NodeResult>>();
    auto future = promise->get_future();
    VideoGenerationNodeKind()->Start(ctx, LoopServices{&h.loop, nullptr},
                                     [promise](NodeResult r) { promise->set_value(std::move(r)); });
    for (int i = 0; i < 200 && h.gemini.polls() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto t0 = std::chrono::steady_clock::now();
    VideoGenerationNodeKind()->Cancel(ctx);
    REQUIRE(future.wait_for(std::chrono::seconds(2)) == std::future_status::ready);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
    NodeResult r = future.get();
    CHECK(r.error == ErrorType::kCancelled);
    CHECK_FALSE(r.submission_finished);
  }

  TEST_CASE("sora submits multipart, honours openai-poll-after-ms and downloads" * doctest::timeout(60)) {
    Harness h;
    h.sora.set_poll_after_ms(300);
    h.sora.set_polls_until_done(3);
    std::string ref = WriteReferencePng("sora_ref.png");
    Json in = SoraInputs("neon city", 8);
    in["imagePath"] = ref;
    NodeResult r = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", in));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "sora");
    CHECK(r.model == "sora-2");
    CHECK(r.cost == doctest::Approx(0.8));
    CHECK(r.outputs["duration"].get<double>() == doctest::Approx(8).epsilon(0.1));
    CHECK(StartsWith(r.outputs["jobId"].get<std::string>(), "video_"));
    Json create = h.sora.last_create();
    CHECK(create["model"] == "sora-2");
    CHECK(create["seconds"] == "8");
    CHECK(create["size"] == "1280x720");
    CHECK(create["prompt"] == "neon city");
    CHECK(create["input_reference"]["bytes"] == testing::FakePngBytes().size());
    CHECK(create["input_reference"]["filename"] == "sora_ref.png");
    CHECK(create["input_reference"]["contentType"] == "image/png");
    Json j = h.LastJournal();
    CHECK(j["provider"] == "sora");
    CHECK(j["videoId"] == r.outputs["jobId"]);
    CHECK(j["_soraPolls"] == 0);
    for (double gap : h.sora.poll_gaps()) CHECK(gap >= 0.25);  // not the 0.02 s pollInterval
    for (const auto& req : h.sora.requests()) CHECK(req.Header("authorization") == "Bearer " + h.sora.api_key());
  }

  TEST_CASE("video_generation dispatches sora models and sora sizes follow the inputs" * doctest::timeout(60)) {
    Harness h;
    Json in = SoraInputs("portrait walk", 4);
    in["aspectRatio"] = "9:16";
    in["model"] = "sora-2-pro";
    in["resolution"] = "1080p";
    NodeResult r = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", in));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "sora");
    CHECK(h.sora.last_create()["size"] == "1024x1792");
    CHECK(r.cost == doctest::Approx(0.5 * 4));

    NodeResult veo_in_sora = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", VeoInputs("x")));
    CHECK(veo_in_sora.error == ErrorType::kInvalidInput);
    NodeResult image_model =
        h.Run(VideoGenerationNodeKind(), h.Context("video_generation", {{"prompt", "x"}, {"model", "nanobanana"}}));
    CHECK(image_model.error == ErrorType::kInvalidInput);
    NodeResult retired = h.Run(VideoGenerationNodeKind(),
                               h.Context("video_generation", {{"prompt", "x"}, {"model", "veo-3.0-generate-001"}}));
    CHECK(retired.error == ErrorType::kInvalidInput);
    CHECK(retired.message.find("veo-3.1-generate-preview") != std::string::npos);
    CHECK(h.gemini.requests().empty());
  }

  TEST_CASE("sora faults, failures and re-attach" * doctest::timeout(90)) {
    Harness h;
    auto run = [&](FakeSora::Endpoint ep, FakeFault fault, const std::string& prompt) {
      h.sora.AddFault(ep, {fault, 9});
      auto ctx = h.Context("sora2_video", SoraInputs(prompt));
      ctx->attempt_timeout = 1.5;
      return h.Run(Sora2VideoNodeKind(), ctx);
    };
    NodeResult bad_key = run(FakeSora::Endpoint::kCreate, FakeFault::kBadKey, "k");
    CHECK(bad_key.error == ErrorType::kAuth);
    CHECK(bad_key.message.find("OPENAI_API_KEY") != std::string::npos);
    NodeResult limited = run(FakeSora::Endpoint::kCreate, FakeFault::kRateLimit, "r");
    CHECK(limited.error == ErrorType::kRateLimited);
    CHECK(limited.retry_after == doctest::Approx(9));
    CHECK(run(FakeSora::Endpoint::kCreate, FakeFault::kServerError, "s").error == ErrorType::kUnavailable);
    CHECK(run(FakeSora::Endpoint::kCreate, FakeFault::kReset, "t").error == ErrorType::kUnavailable);
    CHECK(run(FakeSora::Endpoint::kCreate, FakeFault::kMalformedJson, "u").error == ErrorType::kUnavailable);
    CHECK(run(FakeSora::Endpoint::kCreate, FakeFault::kStall, "v").error == ErrorType::kTimeout);
    CHECK(h.sora.total_submissions() == 0);

    NodeResult moderated = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", SoraInputs("gore [blocked]")));
    CHECK(moderated.error == ErrorType::kContentBlocked);
    CHECK(moderated.message.find("moderation_blocked") != std::string::npos);
    CHECK(moderated.submission_finished);
    NodeResult failed = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", SoraInputs("meh [fail]")));
    CHECK(failed.error == ErrorType::kExecution);
    CHECK(failed.submission_finished);

    // Poll failures keep the job; the next attempt re-attaches without a new submission.
    h.sora.AddFault(FakeSora::Endpoint::kRetrieve, {FakeFault::kServerError}, kMaxPollFailures);
    NodeResult first = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", SoraInputs("a lake")));
    CHECK(first.error == ErrorType::kUnavailable);
    CHECK_FALSE(first.submission_finished);
    h.sora.AddFault(FakeSora::Endpoint::kContent, {FakeFault::kTruncate});
    NodeResult second = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", SoraInputs("a lake"), h.LastJournal()));
    REQUIRE_MESSAGE(second.ok(), second.message);
    CHECK(h.sora.submissions("a lake") == 1);
    CHECK(h.sora.downloads() == 2);

    h.sora.ForgetVideos();
    NodeResult gone = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", SoraInputs("a lake"), h.LastJournal()));
    CHECK(gone.error == ErrorType::kUnavailable);
    CHECK(gone.submission_finished);
    CHECK(h.sora.submissions("a lake") == 1);

    // A duration the protocol does not take is refused by the server as InvalidInput.
    NodeResult odd = h.Run(Sora2VideoNodeKind(), h.Context("sora2_video", SoraInputs("odd", 5)));
    CHECK(odd.error == ErrorType::kInvalidInput);
    CHECK(odd.message.find("seconds") != std::string::npos);
  }

  TEST_CASE("offline mode renders placeholder media at cost 0 without the network" * doctest::timeout(120)) {
    Harness h;
    h.config.offline = true;
    h.config.gemini_api_key.clear();
    h.config.openai_api_key.clear();
    if (!OfflineRenderingAvailable()) {
      MESSAGE("offline renderer (media/render.h) not built in; skipping");
      return;
    }
    NodeResult img = h.Run(ImageGenerationNodeKind(),
                           h.Context("character_image", {{"prompt", "a fox"}, {"aspectRatio", "16:9"}}), 60);
    REQUIRE_MESSAGE(img.ok(), img.message);
    CHECK(img.provider == "offline");
    CHECK(img.cost == 0);
    CHECK(fs::exists(img.outputs["imagePath"].get<std::string>()));
    Json in = VeoInputs("a fox runs", 4);
    in["characterImagePath"] = img.outputs["imagePath"];
    in["resolution"] = "720p";
    NodeResult vid = h.Run(VideoGenerationNodeKind(), h.Context("video_generation", in), 90);
    REQUIRE_MESSAGE(vid.ok(), vid.message);
    CHECK(vid.provider == "offline");
    CHECK(vid.cost == 0);
    CHECK(vid.outputs["duration"].get<double>() == doctest::Approx(4).epsilon(0.1));
    CHECK(h.gemini.requests().empty());
    CHECK(h.sora.requests().empty());
  }

  TEST_CASE("a cancelled offline render does not outlive JoinOffLoopThreads" * doctest::timeout(120)) {
    // The render of a cancelled attempt used to run on in a detached thread; when the process
    // exited under it, LeakSanitizer reported libx264's encoder context. Now it is joined.
    if (!OfflineRenderingAvailable()) return;
    Harness h;
    h.config.offline = true;
    Json in = VeoInputs("a long placeholder", 8);
    in["resolution"] = "720p";
    auto ctx = h.Context("video_generation", in);
    auto promise = std::make_shared<std::promise<NodeResult>>();
    auto future = promise->get_future();
    VideoGenerationNodeKind()->Start(ctx, LoopServices{&h.loop, nullptr},
                                     [promise](NodeResult r) { promise->set_value(std::move(r)); });
    // Cancel once the render has started (its progress line), or at once if it was quick.
    VideoGenerationNodeKind()->Cancel(ctx);
    REQUIRE(future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(future.get().error == ErrorType::kCancelled);
    JoinOffLoopThreads();
    // The worker has ended: it removed its temporary file and left no output behind.
    for (const auto& e : fs::directory_iterator(ctx->node_dir))
      CHECK_MESSAGE(e.path().filename().string().find("offline") == std::string::npos, e.path().string());
    CHECK_FALSE(fs::exists(fs::path(ctx->node_dir) / "video.mp4"));
  }

  TEST_CASE("missing provider keys are found before the run" * doctest::timeout(10)) {
    Json doc = Json::parse(R"({
    "workflowId": "keys", "params": {"m": "sora-2"},
    "nodes": [
      {"id": "img", "type": "character_image", "inputs": {"prompt": "a"}},
      {"id": "video_1", "type": "video_generation", "inputs": {"prompt": "b", "model": "veo3-fast"}},
      {"id": "video_2", "type": "video_generation", "inputs": {"prompt": "c", "model": "<<params.m>>"}},
      {"id": "s", "type": "sora2_video", "inputs": {"prompt": "d"}},
      {"id": "v", "type": "value", "inputs": {"x": 1}}
    ]})");
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(BuildWorkflow(doc, "keys.json", {}, &wf, &diags));
    Config none;
    auto missing = MissingProviderKeys(wf, none);
    REQUIRE(missing.size() == 4);
    CHECK(missing[0] ==
          "node 'img' (gemini) needs GEMINI_API_KEY; set it in the environment or .env, or run with --offline");
    CHECK(missing[1] ==
          "node 'video_1' (veo) needs GEMINI_API_KEY; set it in the environment or .env, or run with --offline");
    CHECK(missing[2].find("'video_2' (sora) needs OPENAI_API_KEY") != std::string::npos);
    CHECK(missing[3].find("'s' (sora)") != std::string::npos);
    Config gemini_only;
    gemini_only.gemini_api_key = "g-key-123456";
    CHECK(MissingProviderKeys(wf, gemini_only).size() == 2);
    Config offline;
    offline.offline = true;
    CHECK(MissingProviderKeys(wf, offline).empty());
  }

  TEST_CASE("model table resolves aliases and names successors of retired models" * doctest::timeout(10)) {
    ModelCatalog catalog;
    std::string err;
    REQUIRE(BuildModelCatalog(nullptr, &catalog, &err));
    CHECK(catalog.Resolve("nanobana", &err)->id == "gemini-3.1-flash-image");
    CHECK(catalog.Resolve("Veo3-Fast", &err)->id == "veo-3.1-fast-generate-preview");
    CHECK(catalog.Resolve("models/veo-3.1-generate-preview", &err)->provider == Provider::kVeo);
    CHECK(catalog.Resolve("veo-3.0-fast-generate-001", &err) == nullptr);
    CHECK(err.find("veo-3.1-fast-generate-preview") != std::string::npos);
    CHECK(err.find("2026-06-30") != std::string::npos);
    CHECK(catalog.Resolve("veo3-fsat", &err) == nullptr);
    CHECK(err.find("did you mean 'veo3-fast'") != std::string::npos);
    REQUIRE(BuildModelCatalog(Json::parse(R"({"aliases": {"old": "gemini-2.5-flash-image"}})"), &catalog, &err));
    CHECK(catalog.Resolve("old", &err) == nullptr);
    CHECK(err.find("alias 'old'") != std::string::npos);
    CHECK(err.find("gemini-3.1-flash-image") != std::string::npos);
    ModelInfo veo = *catalog.Resolve("veo3", &err);
    CHECK(EstimateGenerationCost(veo, 8, "720p") == doctest::Approx(3.2));
    CHECK(EstimateGenerationCost(veo, 8, "4K") == doctest::Approx(4.8));
  }

  TEST_CASE("provider helpers: base64, origins, delays, media checks" * doctest::timeout(30)) {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
      CHECK(Base64Decode(Base64Encode(s)) == s);
    CHECK(Base64Encode("hello") == "aGVsbG8=");
    CHECK_FALSE(Base64Decode("a$b").has_value());
    CHECK(UrlOrigin("https://Example.com/x?y") == "https://example.com:443");
    CHECK(UrlOrigin("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080");
    CHECK(UrlOrigin("http://127.0.0.1:8080/a") != UrlOrigin("http://127.0.0.1:8081/a"));
    CHECK(ParseDelaySeconds("53s") == 53);
    CHECK(ParseDelaySeconds("1.5s") == 1.5);
    CHECK_FALSE(ParseDelaySeconds("soon").has_value());
    std::string err;
    std::string png = WriteReferencePng("check.png");
    int w = 0, hgt = 0;
    CHECK(CheckImageFile(png, &w, &hgt, &err));
    CHECK(w == 64);
    std::string mp4 = fs::absolute("check.mp4").string();
    REQUIRE(WriteFileAtomic(mp4, testing::FakeMp4Bytes(4), &err));
    double d = 0;
    CHECK_MESSAGE(CheckVideoFile(mp4, &d, &err), err);
    CHECK(d == doctest::Approx(4).epsilon(0.1));
    const std::string& full = testing::FakeMp4Bytes(4);
    REQUIRE(WriteFileAtomic(mp4, full.substr(0, full.size() / 2), &err));
    CHECK_FALSE(CheckVideoFile(mp4, &d, &err));
    REQUIRE(WriteFileAtomic(mp4, "", &err));
    CHECK_FALSE(CheckVideoFile(mp4, &d, &err));
    CHECK_FALSE(CheckImageFile(mp4, &w, &hgt, &err));
  }

}  // TEST_SUITE

}  // namespace comfyrun
