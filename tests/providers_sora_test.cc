// Sora against the in-process fake: multipart submit, poll pacing, download; dispatch from
// video_generation; faults, failures and re-attachment.
#include <doctest/doctest.h>

#include "providers_harness.h"

namespace comfyrun {
namespace {
using namespace providers_test;
}  // namespace

TEST_SUITE("Providers") {
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

}  // TEST_SUITE

}  // namespace comfyrun
