// Output cache: canonical keys, the entry store (hit, corrupt entries, concurrent writers,
// prune) and the executor's use of it (cached completions at cost 0, misses on any change).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/cache/key.h"
#include "comfyrun/cache/run_cache.h"
#include "comfyrun/cache/store.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/run/layout.h"

using namespace comfyrun;
namespace fs = std::filesystem;

namespace {

/// Runs a test (and each pass through its subcases) in a new empty working directory, since
/// the cache lives at fixed relative paths. Tests run on one thread, so chdir is safe.
struct InFreshDir {
  fs::path previous = fs::current_path();
  InFreshDir() {
    static int counter = 0;
    fs::path dir = previous / ("cache-test-" + std::to_string(++counter));
    fs::create_directories(dir);
    fs::current_path(dir);
  }
  ~InFreshDir() { fs::current_path(previous); }
};

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadText(const std::string& path) {
  std::string text, err;
  REQUIRE_MESSAGE(ReadFile(path, &text, &err), err);
  return text;
}

/// A key computed the way the executor does, for a node of `spec` whose inputs are `inputs`
/// and whose upstream node "gen" produced `gen_outputs`, in run folder `run_dir`.
struct KeyCase {
  NodeTypeSpec spec;
  Json inputs;
  Json gen_outputs = Json::object();
  Json params = Json::object();
  std::string run_dir = AbsolutePath("runs/r1");
  bool offline = false;
  std::map<std::string, std::string> models;  // alias -> id

  std::string Key(Json* doc_out = nullptr) {
    Json run = {{"id", "r1"}, {"dir", run_dir}};
    CacheKeyInputs in;
    in.spec = &spec;
    in.inputs = &inputs;
    in.lookup = [&](const std::string& root) -> const Json* {
      if (root == "gen") return &gen_outputs;
      if (root == "params") return &params;
      if (root == "run") return &run;
      return nullptr;
    };
    in.run_dir = run_dir;
    in.offline = offline;
    if (!models.empty()) in.resolve_model = [this](const std::string& a) { return models.count(a) ? models[a] : a; };
    FileHasher hasher;
    Json doc;
    std::string err;
    REQUIRE_MESSAGE(BuildCacheKeyDocument(in, &hasher, &doc, &err), err);
    if (doc_out) *doc_out = doc;
    return CacheKeyOf(doc);
  }
};

NodeTypeSpec TestSpec() {
  NodeTypeSpec s;
  s.name = "shell";
  s.inputs = {Optional("mode", ValueType::kString, "fast", "")};
  s.open_inputs = true;
  return s;
}

/// A node folder with two files (one in a subfolder) and outputs naming them.
struct NodeFolder {
  std::string run_dir, node_dir;
  Json outputs;
  NodeFolder(const std::string& run, const std::string& content) {
    run_dir = AbsolutePath(run);
    node_dir = run_dir + "/gen";
    WriteText(node_dir + "/image.png", content);
    WriteText(node_dir + "/sub/meta.json", "{\"n\": 1}");
    WriteText(node_dir + "/video.mp4.part", "partial download");
    outputs = {{"imagePath", node_dir + "/image.png"},
               {"all", Json::array({node_dir + "/image.png", node_dir + "/sub/meta.json"})},
               {"log", "wrote " + node_dir + "/image.png"},
               {"cost", 0.04},
               {"upstream", run_dir + "/other/x.txt"}};
  }
};

CacheRecord Record(const Json& outputs) {
  CacheRecord r;
  r.type = "character_image";
  r.node = "gen";
  r.provider = "gemini";
  r.model = "gemini-2.5-flash-image";
  r.cost = 0.04;
  r.outputs = outputs;
  return r;
}

const std::string kKey = std::string(64, 'a');

ino_t Inode(const std::string& path) {
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

void SetMtimeDaysAgo(const std::string& path, int days) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = time(nullptr) - days * 86400;
  times[0].tv_nsec = times[1].tv_nsec = 0;
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

}  // namespace

TEST_SUITE("Cache") {
  TEST_CASE("canonical JSON sorts members, writes integral numbers as integers and escapes only what it must") {
    InFreshDir fresh;
    Json a = Json::parse(R"({"b": 1, "a": [1.0, 2.5, "x\"y\\z"], "c": {"z": null, "y": true}, "d": "é\n", "e": -0.0})");
    CHECK(CanonicalJson(a) ==
          "{\"a\":[1,2.5,\"x\\\"y\\\\z\"],\"b\":1,\"c\":{\"y\":true,\"z\":null},\"d\":\"é\\u000a\",\"e\":0}");
    Json b = Json::parse(R"({"e": 0, "d": "é\n", "c": {"y": true, "z": null}, "b": 1.0, "a": [1, 2.5, "x\"y\\z"]})");
    CHECK(CanonicalJson(a) == CanonicalJson(b));
    CHECK(CanonicalJson(Json::parse("0.1")) == "0.1");
    CHECK(CanonicalJson(Json::parse("1e300")) == "1e+300");
    CHECK(CanonicalJson(Json::parse("18446744073709551615")) == "18446744073709551615");
  }

  TEST_CASE("a key does not depend on the run folder and changes with every input, file content, version and model") {
    InFreshDir fresh;
    WriteText("user/ref.png", "reference v1");
    KeyCase c;
    c.spec = TestSpec();
    c.inputs = {{"ref", "user/ref.png"},
                {"n", 1},
                {"seed", 7},
                {"up", "<<gen.path>>"},
                {"cmd", "cat <<gen.path>> | wc"},
                {"where", "<<run.dir>>/notes"},
                {"model", "alias"}};
    WriteText(c.run_dir + "/gen/out.png", "generated v1");
    c.gen_outputs = {{"path", c.run_dir + "/gen/out.png"}};
    Json doc;
    const std::string base = c.Key(&doc);
    CHECK(base.size() == 64);
    CHECK(CanonicalJson(doc).find(AbsolutePath(".")) == std::string::npos);  // no absolute path of ours
    CHECK(doc["inputs"]["where"] == "${run.dir}/notes");
    CHECK(doc["inputs"]["mode"] == "fast");  // defaults are part of the key

    SUBCASE("another run folder with the same file contents gives the same key") {
      KeyCase d = c;
      d.run_dir = AbsolutePath("runs/r2");
      WriteText(d.run_dir + "/gen/out.png", "generated v1");
      d.gen_outputs = {{"path", d.run_dir + "/gen/out.png"}};
      CHECK(d.Key() == base);
    }
    SUBCASE("insertion order of the inputs does not matter") {
      KeyCase d = c;
      Json reversed = Json::object();
      for (auto it = c.inputs.rbegin(); it != c.inputs.rend(); ++it) reversed[it.key()] = it.value();
      d.inputs = reversed;
      CHECK(d.Key() == base);
    }
    SUBCASE("a changed value, seed or default misses") {
      c.inputs["n"] = 2;
      CHECK(c.Key() != base);
      c.inputs["n"] = 1;
      c.inputs["seed"] = 8;
      CHECK(c.Key() != base);
      c.inputs["seed"] = 7;
      c.inputs["mode"] = "slow";
      CHECK(c.Key() != base);
    }
    SUBCASE("a user file changed under the same name misses; changed back, it hits again") {
      WriteText("user/ref.png", "reference v2");
      CHECK(c.Key() != base);
      WriteText("user/ref.png", "reference v1");
      CHECK(c.Key() == base);
    }
    SUBCASE("an upstream file with new content misses, also where it is used inside a longer string") {
      c.inputs.erase("up");
      std::string without_up = c.Key();
      WriteText(c.run_dir + "/gen/out.png", "generated v2");
      CHECK(c.Key() != without_up);
    }
    SUBCASE("type version, offline and the model the alias resolves to are part of the key") {
      c.spec.version = 2;
      CHECK(c.Key() != base);
      c.spec.version = 1;
      c.offline = true;
      CHECK(c.Key() != base);
      c.offline = false;
      c.models["alias"] = "model-2025";
      std::string k2025 = c.Key();
      c.models["alias"] = "model-2026";
      CHECK(c.Key() != k2025);
    }
  }

  TEST_CASE("a stored entry restores its files into another run's node folder, hard-linked, outputs rewritten") {
    InFreshDir fresh;
    NodeFolder first("runs/r1", "png bytes");
    FileHasher hasher;
    CacheStore store("cache");
    std::string err;
    REQUIRE_MESSAGE(store.Put(kKey, Record(first.outputs), first.node_dir, first.run_dir, &hasher, &err), err);
    CHECK_FALSE(fs::exists(store.EntryDir(kKey) + "/files/video.mp4.part"));  // partial downloads stay out
    CHECK(fs::is_empty("cache/tmp"));

    std::string run2 = AbsolutePath("runs/r2"), node2 = run2 + "/gen";
    fs::create_directories(node2);
    WriteText(node2 + "/image.png", "stale file of a failed attempt");
    std::string warning;
    auto hit = store.Fetch(kKey, node2, run2, &hasher, &warning);
    REQUIRE(hit);
    CHECK(warning.empty());
    CHECK(hit->outputs["imagePath"] == node2 + "/image.png");
    CHECK(hit->outputs["all"][1] == node2 + "/sub/meta.json");
    CHECK(hit->outputs["log"] == "wrote " + node2 + "/image.png");
    CHECK(hit->outputs["upstream"] == run2 + "/other/x.txt");
    CHECK(hit->provider == "gemini");
    CHECK(hit->model == "gemini-2.5-flash-image");
    CHECK(hit->original_cost == doctest::Approx(0.04));
    CHECK(ReadText(node2 + "/image.png") == "png bytes");
    CHECK(ReadText(node2 + "/sub/meta.json") == "{\"n\": 1}");
    CHECK(Inode(node2 + "/image.png") == Inode(store.EntryDir(kKey) + "/files/image.png"));

    std::vector<CacheEntryInfo> entries = store.List();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].problem.empty());
    CHECK(entries[0].files == 2);
    CHECK(entries[0].bytes == 9 + 8);
    CHECK(entries[0].node == "gen");
  }

  TEST_CASE("an unknown key is a plain miss") {
    InFreshDir fresh;
    FileHasher hasher;
    CacheStore store("cache");
    std::string warning;
    CHECK_FALSE(store.Fetch(std::string(64, 'b'), AbsolutePath("n"), AbsolutePath("."), &hasher, &warning));
    CHECK(warning.empty());
    CHECK_FALSE(store.Fetch("not-a-key", AbsolutePath("n"), AbsolutePath("."), &hasher, &warning));
  }

  TEST_CASE("a corrupt entry is a miss with a warning, leaves no file behind, and the next store replaces it") {
    InFreshDir fresh;
    NodeFolder first("runs/r1", "png bytes");
    FileHasher hasher;
    CacheStore store("cache");
    std::string err;
    REQUIRE(store.Put(kKey, Record(first.outputs), first.node_dir, first.run_dir, &hasher, &err));
    std::string entry = store.EntryDir(kKey);
    std::string manifest_path = entry + "/manifest.json";
    Json manifest = Json::parse(ReadText(manifest_path));

    SUBCASE("manifest is not JSON") { WriteText(manifest_path, "{\"format\": 1, \"key\""); }
    SUBCASE("manifest is missing") { fs::remove(manifest_path); }
    SUBCASE("manifest has a field of the wrong type") {
      manifest["cost"] = "free";
      WriteText(manifest_path, manifest.dump());
    }
    SUBCASE("manifest names a file outside the entry") {
      manifest["files"][0]["path"] = "../../escape.png";
      WriteText(manifest_path, manifest.dump());
    }
    SUBCASE("a file is missing") { fs::remove(entry + "/files/sub/meta.json"); }
    SUBCASE("a file has another size") { WriteText(entry + "/files/image.png", "png bytes, longer"); }
    SUBCASE("a file has the same size but other bytes") {
      // Not through the hard link (that would change the run folder's copy too): a new file.
      fs::remove(entry + "/files/sub/meta.json");
      WriteText(entry + "/files/sub/meta.json", "{\"n\": 2}");
    }

    std::string run2 = AbsolutePath("runs/r2"), node2 = run2 + "/gen";
    fs::create_directories(node2);
    std::string warning;
    CHECK_FALSE(store.Fetch(kKey, node2, run2, &hasher, &warning));
    CHECK(warning.find("unusable") != std::string::npos);
    CHECK_FALSE(fs::exists(node2 + "/image.png"));
    CHECK_FALSE(fs::exists(node2 + "/sub/meta.json"));

    // The node runs again and stores its result: the corrupt entry is replaced.
    NodeFolder again("runs/r3", "png bytes");
    REQUIRE_MESSAGE(store.Put(kKey, Record(again.outputs), again.node_dir, again.run_dir, &hasher, &err), err);
    warning.clear();
    CHECK(store.Fetch(kKey, node2, run2, &hasher, &warning));
    CHECK(warning.empty());
  }

  TEST_CASE("an output naming something in the node folder that is not a file is not stored") {
    InFreshDir fresh;
    NodeFolder first("runs/r1", "png bytes");
    fs::create_symlink(first.node_dir + "/image.png", first.node_dir + "/link.png");
    first.outputs["linked"] = first.node_dir + "/link.png";
    FileHasher hasher;
    CacheStore store("cache");
    std::string err;
    CHECK_FALSE(store.Put(kKey, Record(first.outputs), first.node_dir, first.run_dir, &hasher, &err));
    CHECK(err.find("link.png") != std::string::npos);
    CHECK_FALSE(fs::exists(store.EntryDir(kKey)));
    CHECK(fs::is_empty("cache/tmp"));
  }

  TEST_CASE("concurrent writers of one key all succeed and leave one valid entry" * doctest::timeout(60)) {
    InFreshDir fresh;
    constexpr int kWriters = 8;
    std::vector<NodeFolder> folders;
    for (int w = 0; w < kWriters; ++w) folders.emplace_back("runs/w" + std::to_string(w), "same bytes");
    std::atomic<int> ready{0};
    std::vector<int> ok(kWriters, 0);
    std::vector<std::string> errors(kWriters);
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w] {
        FileHasher hasher;  // per writer, as per process
        CacheStore store("cache");
        ready.fetch_add(1);
        while (ready.load() < kWriters) std::this_thread::yield();
        ok[w] =
            store.Put(kKey, Record(folders[w].outputs), folders[w].node_dir, folders[w].run_dir, &hasher, &errors[w]);
      });
    }
    for (auto& t : threads) t.join();
    for (int w = 0; w < kWriters; ++w) CHECK_MESSAGE(ok[w], errors[w]);
    CacheStore store("cache");
    std::vector<CacheEntryInfo> entries = store.List();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].problem.empty());
    CHECK(fs::is_empty("cache/tmp"));
    FileHasher hasher;
    std::string warning;
    std::string run2 = AbsolutePath("runs/reader"), node2 = run2 + "/gen";
    fs::create_directories(node2);
    CHECK(store.Fetch(kKey, node2, run2, &hasher, &warning));
    CHECK(warning.empty());
  }

  TEST_CASE("prune removes entries unused for longer than the limit; a hit counts as a use") {
    InFreshDir fresh;
    FileHasher hasher;
    CacheStore store("cache");
    std::string err;
    NodeFolder a("runs/a", "old"), b("runs/b", "recent");
    std::string old_key(64, 'c'), recent_key(64, 'd');
    REQUIRE(store.Put(old_key, Record(a.outputs), a.node_dir, a.run_dir, &hasher, &err));
    REQUIRE(store.Put(recent_key, Record(b.outputs), b.node_dir, b.run_dir, &hasher, &err));
    SetMtimeDaysAgo(store.EntryDir(old_key) + "/manifest.json", 40);
    SetMtimeDaysAgo(store.EntryDir(recent_key) + "/manifest.json", 40);
    std::string warning;
    fs::create_directories("runs/c/gen");
    REQUIRE(store.Fetch(recent_key, AbsolutePath("runs/c/gen"), AbsolutePath("runs/c"), &hasher, &warning));

    CacheStore::PruneResult dry = store.Prune(30 * 86400, /*dry_run=*/true);
    CHECK(dry.removed == 1);
    CHECK(store.List().size() == 2);
    CacheStore::PruneResult result = store.Prune(30 * 86400, /*dry_run=*/false);
    CHECK(result.removed == 1);
    CHECK(result.bytes == 3 + 8);
    CHECK(result.errors.empty());
    std::vector<CacheEntryInfo> left = store.List();
    REQUIRE(left.size() == 1);
    CHECK(left[0].key == recent_key);
    CHECK(store.Prune(0, false).removed == 1);
    CHECK(store.List().empty());
  }
}

// --- through the executor --------------------------------------------------------------------

namespace {

/// Writes a file made from its inputs into the node folder; costs $0.25 per run.
class FileKind : public NodeKind {
 public:
  Mode mode() const override { return Mode::kBlocking; }
  NodeResult Run(NodeContext& ctx) override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++calls[ctx.node_id];
    }
    std::string text = ctx.inputs["argv"].dump();
    std::string path = ctx.node_dir + "/out.txt";
    WriteText(path, text);
    if (!ctx.submission.is_null()) reattached.push_back(ctx.node_id);
    NodeResult r = NodeResult::Success({{"path", path}, {"text", text}});
    r.cost = 0.25;
    r.provider = "fake";
    r.model = "m1";
    return r;
  }
  std::mutex mutex;
  std::map<std::string, int> calls;
  std::vector<std::string> reattached;  // nodes that ran with a recorded submission
};

const char* kCachedWorkflow = R"({"workflowId": "c", "params": {"text": "hello"}, "nodes": [
  {"id": "gen", "type": "shell", "cache": true, "inputs": {"argv": ["gen", "<<params.text>>"]}},
  {"id": "use", "type": "shell", "cache": true, "inputs": {"argv": ["use", "<<gen.path>>"]}},
  {"id": "plain", "type": "shell", "inputs": {"argv": ["plain"]}}]})";

struct CachedRun {
  std::string run_id;
  RunSummary summary;
  JournalReplay replay;
};

/// Runs kCachedWorkflow (with --param text=`text`) in the shared output folder "out". With
/// `submission`, as a resume of a run in which "gen" had submitted a remote job.
CachedRun RunOnce(FileKind* kind, const std::string& text, CacheMode mode = CacheMode::kWorkflow,
                  const Json& submission = nullptr) {
  static int counter = 0;
  CachedRun out;
  out.run_id = "r" + std::to_string(++counter);
  Workflow wf;
  std::vector<Diagnostic> diags;
  REQUIRE(BuildWorkflow(Json::parse(kCachedWorkflow), "c.json", {{"text", text}}, &wf, &diags));
  REQUIRE(ValidateWorkflow(&wf, &diags));
  RunOptions options;
  options.out_dir = "out";
  options.status_mode = StatusPrinter::Mode::kQuiet;
  options.cache = mode;
  options.backends = std::make_shared<LocalBackends>(options.jobs);
  std::string journal_path = "out/" + out.run_id + ".jsonl";
  fs::create_directories("out");
  std::string err;
  {
    auto journal = JournalWriter::Open(journal_path, options.durability, &err);
    REQUIRE_MESSAGE(journal, err);
    journal->Append({{"type", "header"}, {"format", 1}, {"runId", out.run_id}, {"workflow", wf.document}}, true, &err);
    JournalReplay before;
    if (!submission.is_null()) {
      journal->Append({{"type", "run_started"}}, false, &err);
      journal->Append({{"type", "node_started"}, {"node", "gen"}, {"attempt", 1}}, false, &err);
      journal->Append({{"type", "submitted"}, {"node", "gen"}, {"attempt", 1}, {"submission", submission}}, true, &err);
      REQUIRE(ReadJournal(journal_path, &before, &err));
    }
    options.run_dir = RunDirectory(options.out_dir, out.run_id);
    Executor executor(wf, options, out.run_id, journal.get(), [kind](const std::string&) -> NodeKind* { return kind; });
    if (!submission.is_null()) executor.SeedFromReplay(before);
    out.summary = executor.Run();
  }
  REQUIRE(ReadJournal(journal_path, &out.replay, &err));
  return out;
}

}  // namespace

TEST_SUITE("Cache") {
  TEST_CASE("executor: a hit is not run again, journals cached at cost 0 and puts the files in the new run" *
            doctest::timeout(30)) {
    InFreshDir fresh;
    FileKind kind;
    CachedRun first = RunOnce(&kind, "hello");
    REQUIRE(first.summary.status == "succeeded");
    CHECK(kind.calls == std::map<std::string, int>{{"gen", 1}, {"use", 1}, {"plain", 1}});
    CHECK_FALSE(first.replay.nodes["gen"].cached);
    CHECK(first.summary.total_cost == doctest::Approx(0.75));

    CachedRun second = RunOnce(&kind, "hello");
    REQUIRE(second.summary.status == "succeeded");
    // "plain" does not opt in: caching is off unless asked for.
    CHECK(kind.calls == std::map<std::string, int>{{"gen", 1}, {"use", 1}, {"plain", 2}});
    const JournalNode& gen = second.replay.nodes["gen"];
    CHECK(gen.cached);
    CHECK(gen.cost == 0);
    CHECK(gen.provider == "fake");
    CHECK(gen.model == "m1");
    std::string path = gen.outputs["path"].get<std::string>();
    CHECK(path == AbsolutePath("out/runs/" + second.run_id + "/gen/out.txt"));
    CHECK(ReadText(path) == R"(["gen","hello"])");
    CHECK(second.replay.nodes["use"].cached);
    CHECK_FALSE(second.replay.nodes["plain"].cached);
    CHECK(second.summary.total_cost == doctest::Approx(0.25));
    Json metrics = BuildRunMetrics(second.replay);
    CHECK(metrics["cachedNodes"] == 2);
    CHECK(metrics["totalCost"].get<double>() == doctest::Approx(0.25));
    CHECK(metrics["nodes"][0]["cached"] == true);
    CHECK(metrics["nodes"][0]["cost"] == 0);

    SUBCASE("a changed input misses, and so does every node whose input file it changed") {
      RunOnce(&kind, "bonjour");
      CHECK(kind.calls["gen"] == 2);
      CHECK(kind.calls["use"] == 2);
    }
    SUBCASE("--no-cache runs everything") {
      CachedRun off = RunOnce(&kind, "hello", CacheMode::kOff);
      CHECK(kind.calls == std::map<std::string, int>{{"gen", 2}, {"use", 2}, {"plain", 3}});
      CHECK_FALSE(off.replay.nodes["gen"].cached);
    }
    SUBCASE("--cache also caches nodes without a setting") {
      RunOnce(&kind, "hello", CacheMode::kOn);
      CHECK(kind.calls["plain"] == 3);  // stored now
      CachedRun on = RunOnce(&kind, "hello", CacheMode::kOn);
      CHECK(kind.calls["plain"] == 3);
      CHECK(on.replay.nodes["plain"].cached);
    }
    SUBCASE("a cache entry corrupted between runs is a miss, and the run still succeeds") {
      for (const auto& e : CacheStore(AbsolutePath("out/cache")).List())
        WriteText(CacheStore(AbsolutePath("out/cache")).EntryDir(e.key) + "/manifest.json", "garbage");
      CachedRun after = RunOnce(&kind, "hello");
      CHECK(after.summary.status == "succeeded");
      CHECK(kind.calls["gen"] == 2);
      CHECK_FALSE(after.replay.nodes["gen"].cached);
    }
  }

  TEST_CASE("executor: a node re-attaching to a submitted job is not looked up, and its result is stored" *
            doctest::timeout(30)) {
    InFreshDir fresh;
    FileKind kind;
    RunOnce(&kind, "hello");
    CachedRun resumed = RunOnce(&kind, "hello", CacheMode::kWorkflow, {{"id", "job-1"}});
    CHECK(kind.calls["gen"] == 2);  // an entry exists, but the paid job is re-attached to
    CHECK(kind.reattached == std::vector<std::string>{"gen"});
    CHECK_FALSE(resumed.replay.nodes["gen"].cached);

    fs::remove_all("out/cache");
    RunOnce(&kind, "hello", CacheMode::kWorkflow, {{"id", "job-2"}});
    CHECK(kind.calls["gen"] == 3);
    CachedRun after = RunOnce(&kind, "hello");
    CHECK(kind.calls["gen"] == 3);  // the re-attached result was stored
    CHECK(after.replay.nodes["gen"].cached);
  }
}
