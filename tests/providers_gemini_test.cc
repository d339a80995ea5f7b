// Gemini image generation against the in-process fake: the written, validated and priced
// image, replies without an image, and every scripted fault with its error type.
#include <doctest/doctest.h>

#include "providers_harness.h"

namespace comfyrun {
namespace {
using namespace providers_test;
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
    h.config.Set("GEMINI_API_KEY", "wrong-key-abcdefgh");
    Redactor::AddSecret(h.config.Get("GEMINI_API_KEY"));
    NodeResult wrong = h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "a cat"}}));
    CHECK(wrong.error == ErrorType::kAuth);
    CHECK(wrong.message.find("wrong-key-abcdefgh") == std::string::npos);
    // No key at all: refused before any request.
    h.config.Set("GEMINI_API_KEY", "");
    size_t before = h.gemini.requests().size();
    NodeResult none = h.Run(ImageGenerationNodeKind(), h.Context("character_image", {{"prompt", "a cat"}}));
    CHECK(none.error == ErrorType::kAuth);
    CHECK(none.message.find("GEMINI_API_KEY") != std::string::npos);
    CHECK(h.gemini.requests().size() == before);
  }

}  // TEST_SUITE

}  // namespace comfyrun
