// The comfyui protocol helpers and the server pool without a job: server list syntax, slot
// waiters, validation / history / queue replies, `set` overrides, WebSocket message parsing;
// and the fake ComfyUI server the e2e scripts start.
#include <doctest/doctest.h>

#include "comfyui_harness.h"

using namespace comfyrun;
using namespace comfyrun::comfyui_test;
using comfyrun::testing::FakeComfyui;
using comfyrun::testing::RunFakeComfyuiForever;

TEST_SUITE("Comfyui") {
  TEST_CASE("server list syntax: commas, slots fragment, duplicates" * doctest::timeout(5)) {
    std::vector<ComfyuiServerSpec> specs;
    std::string err;
    REQUIRE(ParseComfyuiServers({"http://a:8188, http://b:8188/#slots=2", "http://a:8188#slots=3"}, &specs, &err));
    REQUIRE(specs.size() == 2);
    CHECK(specs[0].url == "http://a:8188");
    CHECK(specs[0].slots == 3);
    CHECK(specs[1].url == "http://b:8188");
    CHECK(specs[1].slots == 2);
    CHECK_FALSE(ParseComfyuiServers({"ftp://x"}, &specs, &err));
    CHECK(err.find("http://") != std::string::npos);
    CHECK_FALSE(ParseComfyuiServers({"http://x#slots=0"}, &specs, &err));
    CHECK_FALSE(ParseComfyuiServers({"http://x#gpus=2"}, &specs, &err));
    CHECK(ParseComfyuiServers({"", " , "}, &specs, &err));
    CHECK(specs.empty());
  }

  TEST_CASE("pool: 300 queued waiters share 3 slots without threads" * doctest::timeout(20)) {
    FakeComfyui a, b;
    REQUIRE(a.Start());
    REQUIRE(b.Start());
    Harness h({a.url() + "#slots=2", b.url()});
    struct State {
      int granted = 0, peak_a = 0, peak_b = 0, failed = 0;
      std::promise<void> all;
    };
    auto st = std::make_shared<State>();
    ComfyuiPool* pool = h.pool;
    HttpLoop* loop = h.loop.get();
    std::string ua = a.url(), ub = b.url();
    loop->Post([=] {
      for (int i = 0; i < 300; ++i) {
        pool->Acquire("", [=](const std::string& server, const std::string& error) {
          if (server.empty()) {
            st->failed++;
          } else {
            st->peak_a = std::max(st->peak_a, pool->in_use(ua));
            st->peak_b = std::max(st->peak_b, pool->in_use(ub));
            // Hold the slot briefly, then give it back.
            loop->After(0.001, [=] { pool->Release(server); });
          }
          (void)error;
          if (++st->granted == 300) st->all.set_value();
        });
      }
    });
    REQUIRE(st->all.get_future().wait_for(std::chrono::seconds(15)) == std::future_status::ready);
    CHECK(st->failed == 0);
    CHECK(st->peak_a == 2);
    CHECK(st->peak_b == 1);
    CHECK(h.OnLoop([&] { return pool->waiting(); }) == 0);
    CHECK(Eventually([&] { return h.OnLoop([&] { return pool->in_use(ua) + pool->in_use(ub); }) == 0; }));
  }

  TEST_CASE("protocol: validation replies name ComfyUI nodes and messages" * doctest::timeout(5)) {
    HttpResponse r;
    r.status = 400;
    r.body =
        R"({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": {"1": {"errors": [{"type": "value_bigger_than_max", "message": "Value 999999 bigger than max of 16384", "details": "width", "extra_info": {"input_name": "width", "received_value": 999999}}], "dependent_outputs": ["3"], "class_type": "EmptyImage"}}})";
    ComfyPromptReply reply = ParsePromptReply(r);
    CHECK(reply.error == ErrorType::kInvalidInput);
    CHECK(reply.message.find("node 1 (EmptyImage)") != std::string::npos);
    CHECK(reply.message.find("Value 999999 bigger than max of 16384: width") != std::string::npos);
    CHECK(reply.details["comfyNodeIds"] == Json::array({"1"}));

    r.body =
        R"({"error": {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNodeClass does not exist.", "details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}})";
    reply = ParsePromptReply(r);
    CHECK(reply.message.find("NoSuchNodeClass does not exist. (Node ID '#1')") != std::string::npos);

    r.status = 500;
    r.body = "500 Internal Server Error\n\nServer got itself in trouble";
    CHECK(ParsePromptReply(r).error == ErrorType::kUnavailable);
  }

  TEST_CASE("protocol: history, queue and no-face phrasing" * doctest::timeout(5)) {
    std::string err;
    auto absent = ParseHistoryReply("{}", "p1", &err);
    REQUIRE(absent);
    CHECK(absent->state == ComfyHistory::State::kAbsent);
    // history_interrupted from the transcript
    auto interrupted = ParseHistoryReply(
        R"({"p1": {"prompt": [14, "p1", {}, {}, ["4"]], "outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [["execution_start", {"prompt_id": "p1", "timestamp": 1}], ["execution_interrupted", {"prompt_id": "p1", "node_id": "3", "node_type": "ImageBlur", "executed": ["2", "1"], "timestamp": 2}]]}, "meta": {}}})",
        "p1", &err);
    REQUIRE(interrupted);
    CHECK(interrupted->state == ComfyHistory::State::kFailed);
    CHECK(interrupted->error == ErrorType::kExecution);
    CHECK(interrupted->message.find("node 3 (ImageBlur)") != std::string::npos);
    auto ok = ParseHistoryReply(
        R"({"p1": {"outputs": {"3": {"images": [{"filename": "probe_00001_.png", "subfolder": "", "type": "output"}]}, "9": {"images": [{"filename": "v_00001_.mp4", "subfolder": "video", "type": "output"}], "animated": [true]}, "7": {"audio": [{"filename": "a.flac", "subfolder": "", "type": "output"}]}, "8": {"text": ["hello"]}}, "status": {"status_str": "success", "completed": true, "messages": []}}})",
        "p1", &err);
    REQUIRE(ok);
    REQUIRE(ok->files.size() == 3);
    CHECK(ok->files[0].kind == "image");
    CHECK(ok->files[1].kind == "video");
    CHECK(ok->files[1].subfolder == "video");
    CHECK(ok->files[2].kind == "audio");

    auto queue = ParseQueueReply(
        R"({"queue_running": [[14, "a", {}, {}, []]], "queue_pending": [[16, "c", {}, {}, []], [15, "b", {}, {}, []]]})",
        "c", &err);
    REQUIRE(queue);
    CHECK(queue->state == ComfyQueuePosition::State::kPending);
    CHECK(queue->ahead == 2);
    CHECK(ParseQueueReply(R"({"queue_running": [], "queue_pending": []})", "c", &err)->state ==
          ComfyQueuePosition::State::kAbsent);

    CHECK(IsNoFaceMessage("No face detected in the source image"));
    CHECK(IsNoFaceMessage("Face not found in target image"));
    CHECK(IsNoFaceMessage("insightface: could not detect any face"));
    CHECK_FALSE(IsNoFaceMessage("CUDA out of memory"));
    CHECK_FALSE(IsNoFaceMessage("file not found: model.safetensors"));

    std::string uuid = NewUuid4();
    CHECK(uuid.size() == 36);
    CHECK(uuid[14] == '4');
    std::set<std::string> used;
    ComfyOutputFile f{"3", "image", "probe_00001_.png", "", "output"};
    CHECK(LocalOutputName(f, &used) == "3_probe_00001_.png");
    CHECK(LocalOutputName(f, &used) == "3_probe_00001_-2.png");
  }

  TEST_CASE("set overrides: applied, and unknown ids or inputs are named" * doctest::timeout(5)) {
    Json graph = ProbeGraph();
    std::string err;
    CHECK(ApplyComfyOverrides(&graph, Json{{"1.width", 96}, {"3.filename_prefix", "x"}}, &err));
    CHECK(graph["1"]["inputs"]["width"] == 96);
    CHECK_FALSE(ApplyComfyOverrides(&graph, Json{{"9.width", 1}}, &err));
    CHECK(err.find("no node '9'") != std::string::npos);
    CHECK_FALSE(ApplyComfyOverrides(&graph, Json{{"1.widht", 1}}, &err));
    CHECK(err.find("no input 'widht'") != std::string::npos);
    CHECK(err.find("did you mean 'width'") != std::string::npos);
    CHECK_FALSE(LoadComfyGraph(Json{{"nodes", Json::array()}, {"links", Json::array()}}, &graph, &err));
    CHECK(err.find("API Format") != std::string::npos);
    CHECK_FALSE(LoadComfyGraph("missing_workflow_api.json", &graph, &err));
  }

  TEST_CASE("events: ComfyUI messages parse into per-prompt events" * doctest::timeout(5)) {
    using K = ComfyEvent::Kind;
    auto e =
        ParseComfyEvent(R"({"type": "progress", "data": {"value": 12, "max": 30, "prompt_id": "p", "node": "3"}})");
    REQUIRE(e);
    CHECK(e->kind == K::kProgress);
    CHECK(e->node == "3");
    CHECK(e->value == 12);
    CHECK(e->max == 30);
    // From the transcript.
    e = ParseComfyEvent(
        R"({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {"3": {"value": 1, "max": 1, "state": "finished", "node_id": "3"}, "4": {"value": 5, "max": 20, "state": "running", "node_id": "4"}}}})");
    REQUIRE(e);
    CHECK(e->node == "4");
    CHECK(e->value == 5);
    CHECK_FALSE(ParseComfyEvent(
        R"({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {"3": {"value": 1, "max": 1, "state": "finished"}}}})"));
    e = ParseComfyEvent(
        R"({"type": "executing", "data": {"node": null, "prompt_id": "a99c5f98-c697-4c73-bc05-74064c130cf1"}})");
    REQUIRE(e);
    CHECK(e->kind == K::kDone);
    CHECK(e->terminal());
    CHECK(e->prompt_id == "a99c5f98-c697-4c73-bc05-74064c130cf1");
    e = ParseComfyEvent(
        R"({"type": "execution_error", "data": {"prompt_id": "p", "node_id": "7", "exception_message": "x"}})");
    REQUIRE(e);
    CHECK(e->kind == K::kError);
    CHECK(e->node == "7");
    CHECK(ParseComfyEvent(R"({"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1}})")->kind ==
          K::kStart);
    CHECK(ParseComfyEvent(R"({"type": "execution_interrupted", "data": {"prompt_id": "p", "node_id": "3"}})")
              ->terminal());
    CHECK_FALSE(ParseComfyEvent(
        R"({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "x"}})"));
    CHECK_FALSE(ParseComfyEvent(R"({"type": "executing", "data": {"node": "3"}})"));
    CHECK_FALSE(ParseComfyEvent(R"({"type": "feature_flags", "data": {}})"));
    CHECK_FALSE(ParseComfyEvent("[1, 2"));
    CHECK(StartsWith(ComfyuiClientId(), "comfyrun-"));
    CHECK(ComfyuiClientId() == ComfyuiClientId());
  }

  // Not a test: `comfyrun_tests -tc="serve a fake ComfyUI*" --no-skip` serves a fake until
  // killed, for end-to-end scripts (FAKE_COMFYUI_SLOTS, FAKE_COMFYUI_RUN_SECONDS; the URL is
  // printed on stdout).
  TEST_CASE("serve a fake ComfyUI until killed" * doctest::skip()) {
    const char* slots = std::getenv("FAKE_COMFYUI_SLOTS");
    const char* run = std::getenv("FAKE_COMFYUI_RUN_SECONDS");
    RunFakeComfyuiForever(0, slots ? std::atoi(slots) : 1, run ? std::atof(run) : 0.5);
  }

}  // TEST_SUITE
