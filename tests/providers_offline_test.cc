// What needs no provider server: offline rendering, the preflight key check, the model table
// and the provider helpers (base64, origins, delays, media checks).
#include <doctest/doctest.h>

#include "providers_harness.h"

namespace comfyrun {
namespace {
using namespace providers_test;
}  // namespace

TEST_SUITE("Providers") {
  TEST_CASE("offline mode renders placeholder media at cost 0 without the network" * doctest::timeout(120)) {
    Harness h;
    h.config.offline = true;
    h.config.Set("GEMINI_API_KEY", "");
    h.config.Set("OPENAI_API_KEY", "");
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
    gemini_only.Set("GEMINI_API_KEY", "g-key-123456");
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
