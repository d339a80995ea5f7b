// One comfyui attempt against FakeComfyui servers, from POST /prompt to the downloaded
// outputs: outputs and their names, uploads, every failure type, output checks and the
// OutputInvalid retry rule, failover between servers.
#include <doctest/doctest.h>

#include "comfyui_harness.h"

using namespace comfyrun;
using namespace comfyrun::comfyui_test;
using comfyrun::testing::FakeComfyui;
using comfyrun::testing::MakeUncompressedPng;

TEST_SUITE("Comfyui") {
  TEST_CASE("success: every output file is downloaded into the node folder" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    // The workflow as a file path, as exported from ComfyUI.
    { std::ofstream("workflow_api.json") << MixedGraph().dump(2); }
    auto ctx = h.Context("gen", Json{{"workflow", "workflow_api.json"}, {"set", {{"1.width", 96}}}});
    NodeResult r = h.Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "comfyui");
    const Json& out = r.outputs;
    REQUIRE(out["images"].size() == 2);  // SaveImage + PreviewImage
    REQUIRE(out["videos"].size() == 1);
    CHECK(out["audio"].empty());
    REQUIRE(out["files"].size() == 3);
    CHECK(out["imagePath"] == out["images"][0]);
    CHECK(out["videoPath"] == out["videos"][0]);
    CHECK(out["server"] == fake.url());
    for (const Json& f : out["files"]) {
      std::string path = f["path"].get<std::string>();
      CHECK(fs::path(path).parent_path() == fs::path(ctx->node_dir));
      CHECK(fs::exists(path));
      CHECK_FALSE(fs::exists(path + ".part"));
    }
    std::string png = ReadAll(out["imagePath"].get<std::string>());
    CHECK(png.substr(1, 3) == "PNG");
    CHECK(png.size() > 1024);
    CHECK(ReadAll(out["videoPath"].get<std::string>()).substr(4, 4) == "ftyp");
    // The override reached the server, and the submission was journaled before completion.
    CHECK(fake.last_prompt()["1"]["inputs"]["width"] == 96);
    REQUIRE(h.submissions.size() == 1);
    CHECK(h.submissions[0]["provider"] == "comfyui");
    CHECK(h.submissions[0]["server"] == fake.url());
    CHECK(h.submissions[0]["promptId"] == out["promptId"]);
    CHECK(h.submissions[0]["clientId"].get<std::string>().size() > 8);
    // ...and before that, the same id before the POST, marked not yet accepted.
    REQUIRE(h.intents.size() == 1);
    CHECK(h.intents[0]["promptId"] == out["promptId"]);
    CHECK(h.intents[0]["server"] == fake.url());
    CHECK(fake.prompts_submitted() == 1);
    CHECK_FALSE(h.progress.empty());
    CHECK(h.done_calls == 1);
  }

  TEST_CASE("identical graphs in two nodes: cached server files get distinct local names" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    NodeResult a = h.Run(h.Context("a", Json{{"workflow", ProbeGraph()}}));
    NodeResult b = h.Run(h.Context("b", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(a.ok(), a.message);
    REQUIRE_MESSAGE(b.ok(), b.message);
    // ComfyUI serves the second run from cache and names the same file.
    CHECK(a.outputs["files"][0]["filename"] == b.outputs["files"][0]["filename"]);
    CHECK(a.outputs["imagePath"] != b.outputs["imagePath"]);
    CHECK(fs::exists(a.outputs["imagePath"].get<std::string>()));
    CHECK(fs::exists(b.outputs["imagePath"].get<std::string>()));
  }

  TEST_CASE("local files given to LoadImage are uploaded first" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    { std::ofstream("face.png", std::ios::binary) << MakeUncompressedPng(32, 32, 0xFF0000); }
    Json graph = Json::parse(R"({
    "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "probe_load"}}
  })");
    std::string local = (fs::current_path() / "face.png").string();
    NodeResult r = h.Run(h.Context("load", Json{{"workflow", graph}, {"set", {{"1.image", local}}}}));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.uploads() == 1);
    CHECK(fake.last_prompt()["1"]["inputs"]["image"] == "face.png");

    // A name that is not a local file is passed through, and the server rejects it as the
    // real one does (custom_validation_failed).
    NodeResult bad = h.Run(h.Context("load2", Json{{"workflow", graph}, {"set", {{"1.image", "not_uploaded.png"}}}}));
    CHECK(bad.error == ErrorType::kInvalidInput);
    CHECK(bad.message.find("Invalid image file: not_uploaded.png") != std::string::npos);
  }

  TEST_CASE("validation error: InvalidInput naming the ComfyUI node, nothing queued" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    NodeResult r = h.Run(h.Context("v", Json{{"workflow", ProbeGraph()}, {"set", {{"1.width", 999999}}}}));
    CHECK(r.error == ErrorType::kInvalidInput);
    CHECK(r.message.find("node 1 (EmptyImage)") != std::string::npos);
    CHECK(r.message.find("bigger than max of 16384") != std::string::npos);
    CHECK(r.details["comfyNodeIds"] == Json::array({"1"}));
    CHECK(r.submission_finished);
    CHECK(fake.prompts_submitted() == 0);
    CHECK(fake.prompts_rejected() == 1);
    CHECK(h.submissions.empty());

    // Unknown override ids never reach the server.
    NodeResult unknown = h.Run(h.Context("u", Json{{"workflow", ProbeGraph()}, {"set", {{"42.seed", 1}}}}));
    CHECK(unknown.error == ErrorType::kInvalidInput);
    CHECK(unknown.message.find("'42'") != std::string::npos);
    CHECK(fake.prompts_rejected() == 1);
    // The slot was given back each time.
    CHECK(h.OnLoop([&] { return h.pool->in_use(fake.url()); }) == 0);
  }

  TEST_CASE("execution_error: Execution with the node and exception message" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetFault(FakeComfyui::Fault::kExecutionError, 1);
    Harness h({fake.url()});
    NodeResult r = h.Run(h.Context("e", Json{{"workflow", ProbeGraph()}}));
    CHECK(r.error == ErrorType::kExecution);
    CHECK(r.message.find("CUDA out of memory") != std::string::npos);
    CHECK(r.message.find("node 1 (EmptyImage)") != std::string::npos);
    CHECK(r.details["node"] == "1");
    CHECK(r.submission_finished);
    // The fault was for one prompt: the next attempt succeeds.
    CHECK(h.Run(h.Context("e", Json{{"workflow", ProbeGraph()}})).ok());
  }

  TEST_CASE("a face node that finds no face: NoFace" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetFault(FakeComfyui::Fault::kNoFace, 1);
    Harness h({fake.url()});
    NodeResult r = h.Run(h.Context("f", Json{{"workflow", FaceGraph()}}));
    CHECK(r.error == ErrorType::kNoFace);
    CHECK(r.message.find("No face detected") != std::string::npos);
    CHECK(r.details["nodeType"] == "ReActorFaceSwap");
  }

  TEST_CASE("outputs are checked by decoding: a 438-byte PNG passes, a file that does not decode fails" *
            doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    // What a real 0.3.64 server wrote for a 64x64 EmptyImage: 438 bytes, below the old 1 KB floor.
    fake.SetFault(FakeComfyui::Fault::kSmallPng, 1);
    NodeResult small = h.Run(h.Context("s", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(small.ok(), small.message);
    CHECK(fs::file_size(small.outputs["imagePath"].get<std::string>()) == 438);
    // Several KB that no decoder takes: OutputInvalid. The graph's seeds are all literal (it has
    // none), so another prompt would make the same file: not worth a retry.
    fake.SetFault(FakeComfyui::Fault::kCorruptOutput, 1);
    Json g = ProbeGraph();
    g["1"]["inputs"]["color"] = 9;  // not cached
    NodeResult bad = h.Run(h.Context("c", Json{{"workflow", g}}));
    CHECK(bad.error == ErrorType::kOutputInvalid);
    CHECK(bad.message.find("does not decode") != std::string::npos);
    CHECK(bad.submission_finished);
    CHECK(bad.details[kRegeneratesKey] == false);
    // A video cut short fails the same way.
    fake.SetFault(FakeComfyui::Fault::kCorruptOutput, 1);
    NodeResult badv = h.Run(h.Context("v", Json{{"workflow", MixedGraph()}}));
    CHECK(badv.error == ErrorType::kOutputInvalid);
    // The byte floors stay as an option.
    fake.SetFault(FakeComfyui::Fault::kTinyOutput, 1);
    g["1"]["inputs"]["color"] = 10;
    NodeResult tiny = h.Run(h.Context("t", Json{{"workflow", g}, {"minImageBytes", 1024}}));
    CHECK(tiny.error == ErrorType::kOutputInvalid);
    CHECK(tiny.message.find("minImageBytes") != std::string::npos);
    // A file the history names but /view does not have.
    fake.SetFault(FakeComfyui::Fault::kLoseOutput, 1);
    g["1"]["inputs"]["color"] = 7;
    NodeResult lost = h.Run(h.Context("t2", Json{{"workflow", g}}));
    CHECK(lost.error == ErrorType::kOutputInvalid);
    CHECK(lost.message.find("404") != std::string::npos);
  }

  TEST_CASE("an OutputInvalid regenerates only when a sampler seed is not literal" * doctest::timeout(20)) {
    CHECK(ComfySeedsFixed(ProbeGraph()));  // no sampler at all
    Json g = Json::parse(R"({
    "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "model": ["4", 0]}},
    "9": {"class_type": "RandomNoise", "inputs": {"noise_seed": 7}}})");
    CHECK(ComfySeedsFixed(g));
    g["9"]["inputs"]["noise_seed"] = Json::array({"12", 0});  // from a seed node: not fixed
    CHECK_FALSE(ComfySeedsFixed(g));
    // And the job marks its OutputInvalid with it.
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    fake.SetFault(FakeComfyui::Fault::kCorruptOutput, 1);
    Json linked = ProbeGraph();
    linked["2"]["inputs"]["seed"] = Json::array({"1", 0});  // the fake ignores unknown inputs
    NodeResult r = h.Run(h.Context("l", Json{{"workflow", linked}}));
    CHECK(r.error == ErrorType::kOutputInvalid);
    CHECK(r.details[kRegeneratesKey] == true);
  }

  TEST_CASE("retry rule: OutputInvalid once at most, and only when a new attempt regenerates" * doctest::timeout(5)) {
    RetryPolicy policy;
    policy.maximum_attempts = 5;
    NodeResult r = NodeResult::Failure(ErrorType::kOutputInvalid, "bad");
    RetryDecision d = DecideRetry(policy, r.error, 1, -1, 0, 0, 0.5);
    REQUIRE(d.retry);
    LimitOutputInvalidRetry(r, 1, &d);  // no mark: a local file, a local render
    CHECK_FALSE(d.retry);
    CHECK(d.why_not.find("not retried") != std::string::npos);
    MarkRegenerates(&r, true);
    d = DecideRetry(policy, r.error, 1, -1, 0, 0, 0.5);
    LimitOutputInvalidRetry(r, 1, &d);
    CHECK(d.retry);
    d = DecideRetry(policy, r.error, 2, -1, 0, 0, 0.5);
    LimitOutputInvalidRetry(r, 2, &d);  // the second OutputInvalid of the run
    CHECK_FALSE(d.retry);
    CHECK(d.why_not.find("once at most") != std::string::npos);
    MarkRegenerates(&r, false);
    d = DecideRetry(policy, r.error, 1, -1, 0, 0, 0.5);
    LimitOutputInvalidRetry(r, 1, &d);
    CHECK_FALSE(d.retry);
    CHECK(SeedFixed(Json{{"seed", 3}}));
    CHECK_FALSE(SeedFixed(Json{{"seed", nullptr}}));
    CHECK_FALSE(SeedFixed(Json::object()));
  }

  TEST_CASE("a server that is down is skipped, and a refused connection fails over" * doctest::timeout(30)) {
    FakeComfyui a, b;
    REQUIRE(a.Start());
    REQUIRE(b.Start());
    Harness h({a.url(), b.url()});
    // The first job goes to whichever server answered its health check first; with both up,
    // the next one goes round-robin to the other.
    NodeResult first = h.Run(h.Context("n1", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(first.ok(), first.message);
    NodeResult second = h.Run(h.Context("n2", Json{{"workflow", ProbeGraph()}}));
    REQUIRE(second.ok());
    CHECK(first.outputs["server"] != second.outputs["server"]);
    FakeComfyui& s1 = first.outputs["server"] == a.url() ? a : b;
    FakeComfyui& s2 = &s1 == &a ? b : a;
    std::string url1 = s1.url(), url2 = s2.url();
    // The third job goes to s1 (granted longest ago), which went down while the pool still
    // believes it healthy: refused there, s1 is marked down and the job runs on s2 within the
    // same attempt.
    s1.Stop();
    NodeResult third = h.Run(h.Context("n3", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(third.ok(), third.message);
    CHECK(third.outputs["server"] == url2);
    CHECK(h.OnLoop([&] { return h.pool->health(url1); }) == ComfyuiPool::Health::kDown);
    CHECK(s1.prompts_submitted() == 1);
    CHECK(s2.prompts_submitted() == 2);
    CHECK(h.submissions.size() == 3);
  }

  TEST_CASE("every server down: Unavailable, fresh submission next time" * doctest::timeout(20)) {
    FakeComfyui a;
    REQUIRE(a.Start());
    std::string url = a.url();
    a.Stop();
    Harness h({url});
    NodeResult r = h.Run(h.Context("d", Json{{"workflow", ProbeGraph()}}));
    CHECK(r.error == ErrorType::kUnavailable);
    CHECK(r.message.find(url) != std::string::npos);
    CHECK(r.submission_finished);
    CHECK(h.OnLoop([&] { return h.pool->health(url); }) == ComfyuiPool::Health::kDown);
  }

}  // TEST_SUITE
