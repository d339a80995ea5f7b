// Veo against the in-process fake: submit, journal before polling, download; typed failures;
// re-attachment and re-fetched downloads without a new submission; redirects that must not
// carry the key; cancel.
#include <doctest/doctest.h>

#include "providers_harness.h"

namespace comfyrun {
namespace {
using namespace providers_test;
}  // namespace

TEST_SUITE("Providers") {
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
    h.config.Set("GEMINI_BASE_URL", inline_fake.base_url());
    h.config.Set("GEMINI_API_KEY", inline_fake.api_key());
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

}  // TEST_SUITE

}  // namespace comfyrun
