// Bodies of the fuzz targets (see targets.h). Each checks a contract, not just "no crash":
// the oracles are cheap differential or round-trip checks that hold for every input.
#include "fuzz/targets.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "comfyrun/comfyui/protocol.h"
#include "comfyrun/core/dag.h"
#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/plan_report.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/nodes/node_table.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/replies.h"

namespace comfyrun::fuzz {
namespace {

[[noreturn]] void Fail(const std::string& what) { throw FuzzFailure(what); }

void Check(bool condition, const std::string& what) {
  if (!condition) Fail(what);
}

std::string Text(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

bool SameNumber(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// ---------------------------------------------------------------------------------------------
// workflow

void CheckDag(const Workflow& wf) {
  size_t n = wf.nodes.size();
  Check(wf.deps.size() == n, "one dependency list per node");
  const DepLists& deps = wf.deps;
  for (size_t i = 0; i < n; ++i) {
    const auto& d = wf.deps[i];
    for (size_t k = 0; k < d.size(); ++k) {
      Check(d[k] < n && d[k] != i, "a dependency index is out of range or the node itself");
      Check(k == 0 || d[k - 1] < d[k], "dependencies are not sorted and unique");
    }
  }
  Check(FindCycle(wf.deps).empty(), "a valid workflow has a cycle");
  PlanReport plan = BuildPlanReport(wf, /*offline=*/true);
  std::vector<size_t> stage_of(n, SIZE_MAX);
  for (size_t s = 0; s < plan.stages.size(); ++s)
    for (size_t i : plan.stages[s]) {
      Check(i < n && stage_of[i] == SIZE_MAX, "a node is in no stage or in two");
      stage_of[i] = s;
    }
  for (size_t i = 0; i < n; ++i) {
    Check(stage_of[i] != SIZE_MAX, "a node is in no stage");
    for (size_t d : deps[i]) Check(stage_of[d] < stage_of[i], "a node is staged before a dependency");
  }
  for (size_t k = 0; k + 1 < plan.critical_path.size(); ++k) {
    const auto& next = deps[plan.critical_path[k + 1]];
    Check(std::binary_search(next.begin(), next.end(), plan.critical_path[k]),
          "the critical path does not follow dependency edges");
  }
  Check(plan.estimates.size() == n, "the plan has not one estimate per node");
  (void)FormatPlanText(wf, plan);
  (void)PlanToJson(wf, plan).dump(-1, ' ', false, Json::error_handler_t::replace);
  (void)PlanToDot(wf, plan);
}

// ---------------------------------------------------------------------------------------------
// template

/// What references may point at: one node "gen", the params and run roots.
const Json& Universe() {
  static const Json u = Json::parse(R"({
    "gen": {"videoPath": "/out/v.mp4", "images": [{"path": "/out/a.png"}, 2, [3]], "n": 8, "ok": true,
            "obj": {"k": "v"}, "empty": ""},
    "params": {"style": "studio", "count": 3, "list": [1, 2]},
    "run": {"id": "wf-20250101T000000Z-abcd", "dir": "/out/runs/wf"}})");
  return u;
}

const Json* LookupRoot(const std::string& root) {
  const Json& u = Universe();
  auto it = u.find(root);
  return it == u.end() ? nullptr : &*it;
}

bool HasTemplateSyntax(const std::string& s) {
  return s.find("<<") != std::string::npos || s.find("{{") != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// journal

/// A directory for the journal under test: in /dev/shm when there is one (fsync and lock
/// files cost nothing there), removed when the process exits.
class ScratchDir {
 public:
  ScratchDir() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    dir_ = base / ("comfyrun-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_, ec);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string File(const char* name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

void WriteBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  Check(out.good(), "cannot write the scratch journal " + path);
}

/// The folded state must not depend on keep_events (journal.h: "the same either way").
void CheckSameFold(const JournalReplay& a, const JournalReplay& b) {
  Check(a.header == b.header, "header differs with keep_events");
  Check(a.node_order == b.node_order, "node order differs with keep_events");
  Check(a.records == b.records && a.runs == b.runs && a.finished == b.finished && a.final_status == b.final_status &&
            a.torn_tail == b.torn_tail && a.warnings == b.warnings,
        "replay summary differs with keep_events");
  Check(SameNumber(a.total_cost, b.total_cost) && a.first_started_at == b.first_started_at &&
            a.last_event_at == b.last_event_at,
        "replay totals differ with keep_events");
  Check(a.nodes.size() == b.nodes.size(), "node count differs with keep_events");
  for (const auto& [id, x] : a.nodes) {
    auto it = b.nodes.find(id);
    Check(it != b.nodes.end(), "node " + id + " missing with keep_events");
    const JournalNode& y = it->second;
    Check(x.status == y.status && x.attempts == y.attempts && x.outputs == y.outputs && SameNumber(x.cost, y.cost) &&
              x.provider == y.provider && x.model == y.model && x.open_submission == y.open_submission &&
              x.last_error == y.last_error && x.last_message == y.last_message && x.started_at == y.started_at &&
              x.finished_at == y.finished_at && x.duration_ms == y.duration_ms && x.queue_wait_ms == y.queue_wait_ms &&
              x.cached == y.cached,
          "node " + id + " folds differently with keep_events");
  }
}

// ---------------------------------------------------------------------------------------------
// providers

void CheckFailure(const NodeResult& r, const char* what) {
  Check(!r.ok() && !r.message.empty(), std::string(what) + ": a failure without a type or message");
}

}  // namespace

void FuzzWorkflow(const uint8_t* data, size_t size) {
  InstallNodeTypes();  // as the CLI does first thing (cheap after the first call)
  std::string text = Text(data, size);
  Workflow wf;
  std::vector<Diagnostic> diags;
  bool ok = LoadWorkflowText(text, "fuzz.json", {}, &wf, &diags);
  Check(ok == (CountErrors(diags) == 0), "LoadWorkflowText's verdict disagrees with its diagnostics");
  for (const auto& d : diags) {
    Check(!d.message.empty(), "a diagnostic without a message");
    (void)d.Format();
  }
  if (ok) CheckDag(wf);
  // The loader keeps no state between calls (model lookups are cached per call).
  Workflow again;
  std::vector<Diagnostic> diags_again;
  bool ok_again = LoadWorkflowText(text, "fuzz.json", {}, &again, &diags_again);
  Check(ok == ok_again && diags.size() == diags_again.size(), "loading twice gives different verdicts");
}

void FuzzTemplate(const uint8_t* data, size_t size) {
  std::string text = Text(data, size);
  Json value = text;
  std::vector<Reference> refs;
  std::vector<std::pair<std::string, std::string>> errors;
  FindReferences(value, "$.inputs.s", &refs, &errors);
  for (const auto& ref : refs) {
    Check(!ref.root.empty(), "a reference without a root");
    Check(text.find(ref.text) != std::string::npos, "a reference's text is not in the string");
    Check(ref.text.size() >= 4 && (ref.text.compare(0, 2, "<<") == 0 || ref.text.compare(0, 2, "{{") == 0),
          "a reference's text is not a template");
    std::string err;
    auto again = ParseReference(std::string_view(ref.text).substr(2, ref.text.size() - 4), &err);
    Check(again && again->root == ref.root && again->steps.size() == ref.steps.size(),
          "a found reference does not parse again");
  }
  for (const auto& [path, message] : errors) Check(!message.empty(), "a template error without a message");
  if (!HasTemplateSyntax(text)) Check(refs.empty() && errors.empty(), "references in text without << or {{");

  Json out;
  std::string err;
  bool resolved = ResolveTemplates(value, LookupRoot, &out, &err);
  if (!resolved) Check(!err.empty(), "ResolveTemplates failed without a message");
  if (errors.empty() && refs.empty()) Check(resolved, "a string without references does not resolve");
  if (resolved && !HasTemplateSyntax(text)) Check(out == value, "a string without templates changed");

  // The same string deeper in a value: found again, once per place.
  Json nested = Json::array({value, Json::object({{"k", value}})});
  std::vector<Reference> nested_refs;
  std::vector<std::pair<std::string, std::string>> nested_errors;
  FindReferences(nested, "$", &nested_refs, &nested_errors);
  Check(nested_refs.size() == 2 * refs.size() && nested_errors.size() == 2 * errors.size(),
        "references are found differently at depth");
  Json nested_out;
  std::string nested_err;
  Check(ResolveTemplates(nested, LookupRoot, &nested_out, &nested_err) == resolved, "resolution differs at depth");

  // The text as the inside of a template.
  std::string parse_err;
  if (auto ref = ParseReference(text, &parse_err)) {
    Check(!ref->root.empty(), "ParseReference accepted an empty root");
    std::string lookup_err;
    if (!LookupReference(*ref, LookupRoot, &lookup_err)) Check(!lookup_err.empty(), "lookup failed silently");
  } else {
    Check(!parse_err.empty(), "ParseReference failed without a message");
  }
}

void FuzzJournal(const uint8_t* data, size_t size) {
  static ScratchDir scratch;
  std::string path = scratch.File("fuzz.jsonl");
  WriteBytes(path, data, size);

  JournalReplay lean, full;
  std::string err_lean, err_full;
  JournalReadOptions keep;
  keep.keep_events = true;
  JournalReadOptions drop;
  drop.keep_events = false;
  bool ok = ReadJournal(path, drop, &lean, &err_lean);
  Check(ReadJournal(path, keep, &full, &err_full) == ok, "keep_events changes whether the journal reads");
  if (!ok) {
    Check(!err_lean.empty() && err_lean == err_full, "ReadJournal failed without the same message");
    return;
  }
  CheckSameFold(lean, full);
  for (const auto& id : lean.node_order) Check(lean.nodes.count(id) == 1, "node_order names an unknown node");
  Check(lean.node_order.size() == lean.nodes.size(), "node_order and nodes differ in size");

  // A writer opening this journal cuts a torn tail and appends after the last full line.
  std::string probe = "fuzz-probe";
  while (lean.nodes.count(probe)) probe += "-";
  std::string err;
  {
    auto writer = JournalWriter::Open(path, Durability::kNone, &err);
    Check(writer != nullptr, "JournalWriter::Open failed on a readable journal: " + err);
    Check(writer->size() > 0, "a journal with a header opened as empty");
    Check(writer->Append({{"type", "node_started"}, {"node", probe}, {"attempt", 1}}, /*proof=*/true, &err),
          "Append failed: " + err);
  }
  JournalReplay after;
  Check(ReadJournal(path, drop, &after, &err), "the journal does not read after an append: " + err);
  Check(!after.torn_tail, "a torn tail survived the writer");
  Check(after.records == lean.records + 1, "the writer lost or duplicated a record");
  Check(!after.node_order.empty() && after.node_order.back() == probe && after.nodes.count(probe) &&
            after.nodes.at(probe).status == JournalNode::Status::kRunning,
        "the appended record is not the last one read back");
}

void FuzzProviderReplies(const uint8_t* data, size_t size) {
  std::string text = Text(data, size);

  GeminiImageReply image = ParseGeminiImageReply(text, "gemini generateContent m");
  if (image.data.empty())
    CheckFailure(image.failure, "gemini");
  else
    Check(image.mime_type.compare(0, 6, "image/") == 0, "gemini: an image without an image MIME type");

  if (auto json = ParseJsonBody(text)) {
    VeoOperationReply op = ParseVeoOperation(*json, "veo operation o");
    if (op.state == VeoOperationReply::State::kFailed) CheckFailure(op.failure, "veo");
    SoraVideoReply video = ParseSoraVideo(*json, "sora video v");
    if (video.state == SoraVideoReply::State::kFailed) CheckFailure(video.failure, "sora");
    Check(video.progress >= 0 && video.progress <= 100, "sora: progress outside 0..100");
    NodeResult rpc = RpcStatusFailure(*json, "veo operation o");
    CheckFailure(rpc, "rpc status");
  }

  for (int status : {0, 400, 401, 403, 404, 408, 409, 429, 500, 503, 504}) {
    HttpResponse r;
    r.status = status;
    r.body = text;
    r.headers["retry-after-ms"] = text.substr(0, 32);
    NodeResult g = GeminiHttpFailure(r, "gemini call", "m");
    CheckFailure(g, "gemini http");
    NodeResult o = OpenAiHttpFailure(r, "sora call");
    CheckFailure(o, "openai http");
    Check(std::isfinite(g.retry_after) && std::isfinite(o.retry_after), "a retry hint is not finite");
  }

  if (auto delay = ParseDelaySeconds(text)) Check(*delay >= 0 && std::isfinite(*delay), "a bad delay parsed");
  double retry_after = ParseRetryAfter(text, 1700000000);
  Check(retry_after == -1 || (retry_after >= 0 && std::isfinite(retry_after)), "a bad Retry-After parsed");
  if (auto bytes = Base64Decode(text)) {
    auto round = Base64Decode(Base64Encode(*bytes));
    Check(round && *round == *bytes, "base64 does not round-trip");
  }
  (void)UrlOrigin(text);
}

void FuzzComfyuiProtocol(const uint8_t* data, size_t size) {
  std::string text = Text(data, size);
  for (int status : {200, 400, 500}) {
    HttpResponse r;
    r.status = status;
    r.body = text;
    ComfyPromptReply reply = ParsePromptReply(r);
    if (reply.prompt_id.empty())
      Check(reply.error != ErrorType::kNone && !reply.message.empty(), "/prompt: no prompt id and no error");
  }
  std::string err;
  if (auto history = ParseHistoryReply(text, "p1", &err)) {
    std::set<std::string> used;
    for (const auto& file : history->files) {
      Check(!file.filename.empty(), "/history: an output file without a name");
      std::string name = LocalOutputName(file, &used);
      Check(!name.empty() && name.find('/') == std::string::npos && name != "." && name != ".." && name.front() != '.',
            "a local output name leaves the node folder or hides: " + name);
      (void)ComfyViewUrl("http://127.0.0.1:8188", file);
    }
    if (history->state == ComfyHistory::State::kFailed)
      Check(history->error != ErrorType::kNone && !history->message.empty(), "/history: a failure without a message");
  } else {
    Check(!err.empty(), "/history: refused without a message");
  }
  err.clear();
  if (auto queue = ParseQueueReply(text, "p1", &err)) {
    Check(queue->ahead >= 0, "/queue: negative position");
  } else {
    Check(!err.empty(), "/queue: refused without a message");
  }
  err.clear();
  if (auto name = ParseUploadReply(text, &err))
    Check(!name->empty(), "/upload: an empty name");
  else
    Check(!err.empty(), "/upload: refused without a message");

  // "GRAPH\nSET": a workflow input and its overrides.
  size_t nl = text.find('\n');
  Json workflow = Json::parse(text.substr(0, nl), nullptr, false);
  if (workflow.is_discarded()) return;
  Json graph;
  err.clear();
  if (!LoadComfyGraph(workflow, &graph, &err)) {
    Check(!err.empty(), "LoadComfyGraph failed without a message");
    return;
  }
  if (nl != std::string::npos) {
    Json set = Json::parse(text.substr(nl + 1), nullptr, false);
    if (!set.is_discarded()) {
      Json before = graph;
      err.clear();
      if (ApplyComfyOverrides(&graph, set, &err)) {
        Check(graph.size() == before.size(), "overrides added or removed nodes");
      } else {
        Check(!err.empty(), "ApplyComfyOverrides failed without a message");
      }
    }
  }
  (void)FindComfyUploads(graph);
  (void)BuildPromptBody(graph, "client", "p1").dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool RunFuzzTarget(const std::string& name, const uint8_t* data, size_t size) {
  if (name == "workflow")
    FuzzWorkflow(data, size);
  else if (name == "template")
    FuzzTemplate(data, size);
  else if (name == "journal")
    FuzzJournal(data, size);
  else if (name == "provider_replies")
    FuzzProviderReplies(data, size);
  else if (name == "comfyui_protocol")
    FuzzComfyuiProtocol(data, size);
  else
    return false;
  return true;
}

}  // namespace comfyrun::fuzz
