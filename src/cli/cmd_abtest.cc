// abtest: run the variants of an A/B test as one combined workflow, then compare them.
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comfyrun/abtest/results.h"
#include "comfyrun/abtest/runner.h"
#include "comfyrun/abtest/stats.h"
#include "comfyrun/cli.h"
#include "comfyrun/commands.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/util.h"
#include "comfyrun/validate.h"
#include "run_support.h"

// Implementation details: the runner module (abtest/runner.h) turns the test into one
// workflow; from here on it is an ordinary run with one journal, whose header carries the
// test's manifest under "abtest". FinishAbTest reads the runs back from that journal, so the
// first run and every resume end the same way.

namespace comfyrun {
namespace {

/// The combined workflow as the journal header holds it, built again (not validated: it was
/// when the test started) with the header's params.
bool BuildHeaderWorkflow(const Json& header, Workflow* wf, std::string* err) {
  std::vector<ParamOverride> overrides;
  if (header.contains("params") && header["params"].is_object())
    for (auto it = header["params"].begin(); it != header["params"].end(); ++it)
      overrides.push_back({it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump()});
  std::vector<Diagnostic> diags;
  if (!BuildWorkflow(header.value("workflow", Json()), header.value("file", ""), overrides, wf, &diags)) {
    *err = diags.empty() ? "invalid workflow" : diags.front().Format();
    return false;
  }
  return true;
}

/// The full id of every node of the runs the journal shows as failed for a real reason.
std::set<std::string> NodesOfFailedRuns(const Json& manifest, const JournalReplay& replay) {
  std::set<std::string> out;
  for (const auto& v : manifest.value("variants", Json::array())) {
    const std::string vid = v.value("variantId", "");
    for (int k = 0; k < v.value("repeats", 0); ++k) {
      bool failed = false;
      std::vector<std::string> ids;
      for (const auto& n : v.value("nodes", Json::array())) {
        ids.push_back(AbNodeId(vid, k, n.value("id", "")));
        auto it = replay.nodes.find(ids.back());
        if (it != replay.nodes.end() && it->second.status == JournalNode::Status::kFailed &&
            !(it->second.last_error == ErrorType::kCancelled && StartsWith(it->second.last_message, "not started")))
          failed = true;
      }
      if (failed) out.insert(ids.begin(), ids.end());
    }
  }
  return out;
}

}  // namespace

Json AbTestResumeDocument(const Json& header, const JournalReplay& replay) {
  Json doc = header.value("workflow", Json());
  if (!doc.is_object() || !doc.contains("nodes") || !doc["nodes"].is_array()) return doc;
  const std::set<std::string> failed = NodesOfFailedRuns(header["abtest"], replay);
  Json nodes = Json::array();
  for (const auto& n : doc["nodes"]) {
    const std::string id = n.value("id", "");
    auto it = replay.nodes.find(id);
    // Completed nodes stay (the executor does not run them again); nodes of failed runs that
    // did not complete are dropped, and nothing that stays can depend on them.
    if (failed.count(id) && (it == replay.nodes.end() || it->second.status != JournalNode::Status::kCompleted))
      continue;
    nodes.push_back(n);
  }
  if (nodes.empty()) {
    // Every run has failed: nothing to run, but resume still writes the result.
    nodes.push_back({{"id", "abtest-resume"}, {"type", "value"}, {"inputs", Json::object()}});
  }
  doc["nodes"] = std::move(nodes);
  return doc;
}

int FinishAbTest(const Json& header, const RunSummary& summary, const ExecutionOptions& exec) {
  if (summary.status == "interrupted") return Finish(summary, exec);  // exit 130, with the resume hint
  const Json& manifest = header["abtest"];
  const std::string test_id = manifest.value("testId", header.value("workflowId", "abtest"));
  const std::string description = manifest.value("description", "");
  JournalReplay replay;
  Workflow wf;
  std::string err;
  if (!ReadJournal(summary.journal_path, &replay, &err) || !BuildHeaderWorkflow(header, &wf, &err)) {
    fmt::print(stderr, "comfyrun abtest: cannot read the A/B test back from {}: {}\n", summary.journal_path, err);
    return kExitFailed;
  }
  AbCollected collected = CollectAbRuns(manifest, wf, replay);
  AbAnalysisOptions options;
  options.baseline_variant_id = manifest.value("baseline", "");
  options.include_run_details = true;
  AbAnalysis analysis = AnalyzeAbTest(collected.variants, collected.runs, options);

  Json result = AbResultJson(test_id, description, analysis);
  for (auto& v : result["variants"]) {
    const std::string id = v.value("variantId", "");
    if (collected.quality_sources.contains(id)) v["qualitySource"] = collected.quality_sources[id];
  }
  const std::string& out_dir = exec.out_dir;  // on resume: the journal's unless --out is given
  const std::string path = fmt::format("{}/ab-tests/{}-{}.json", out_dir, test_id, UtcStamp());
  result["run"] = {{"runId", summary.run_id},
                   {"status", summary.status},
                   {"journal", summary.journal_path},
                   {"metrics", summary.metrics_path},
                   {"totalCost", summary.total_cost},
                   {"durationMs", summary.duration_ms},
                   {"runsFinished", collected.runs.size()},
                   {"runsUnfinished", collected.unfinished},
                   {"resultPath", path}};
  if (!MakeDirs(out_dir + "/ab-tests", &err) || !WriteFileAtomic(path, result.dump(2) + "\n", &err)) {
    fmt::print(stderr, "comfyrun abtest: cannot write the result {}: {}\n", path, err);
    return kExitFailed;
  }
  fmt::print(stderr, "\n{}", FormatAbTable(test_id, analysis));
  if (collected.unfinished > 0)
    fmt::print(stderr, "note: {} run(s) did not finish (stopped, or refused by --max-cost) and are left out\n",
               collected.unfinished);
  fmt::print(stderr, "A/B test {} {} in {}, cost ${:.2f}\n  result:  {}\n  journal: {}\n  metrics: {}\n", test_id,
             summary.status == "succeeded" ? "finished" : "finished with failed runs",
             FormatDuration(summary.duration_ms / 1000.0), summary.total_cost, path, summary.journal_path,
             summary.metrics_path);
  if (exec.json) fmt::print("{}\n", result.dump(2));
  return analysis.total_successes > 0 ? kExitOk : kExitFailed;
}

int AbTestCommand(const AbTestOptions& cli) {
  if (!cli.resume.empty()) {
    if (!cli.file.empty()) {
      fmt::print(stderr, "comfyrun abtest: give either a test file or --resume JOURNAL, not both\n");
      return kExitInvalid;
    }
    JournalReplay replay;
    std::string err;
    if (!ReadJournal(cli.resume, &replay, &err)) {
      fmt::print(stderr, "comfyrun abtest: {}: {}\n", cli.resume, err);
      return kExitInvalid;
    }
    if (!replay.header.contains("abtest")) {
      fmt::print(stderr, "comfyrun abtest: {} is the journal of a workflow run, not of an A/B test; "
                         "continue it with `comfyrun resume {}`\n", cli.resume, cli.resume);
      return kExitInvalid;
    }
    ResumeOptions resume;
    resume.journal = cli.resume;
    resume.exec = cli.exec;
    resume.offline_given = cli.offline_given;
    resume.fail_fast_given = cli.fail_fast_given;
    resume.out_given = cli.out_given;
    return ResumeCommand(resume);  // ends in FinishAbTest
  }
  if (cli.file.empty()) {
    fmt::print(stderr, "comfyrun abtest: give a test file (TEST.json) or --resume JOURNAL\n");
    return kExitInvalid;
  }

  std::vector<Diagnostic> diags;
  AbTestSpec spec;
  AbLoadOptions load;
  load.repeats = cli.repeats;
  AbCombined combined;
  Workflow wf;
  bool ok = LoadAbTest(cli.file, load, &spec, &diags);
  if (ok) ok = CombineAbTest(spec, &combined, &diags);
  if (ok) {
    // Each variant is valid, so the combined workflow is too unless the renaming is wrong.
    std::vector<Diagnostic> combined_diags;
    ok = BuildWorkflow(combined.document, cli.file, {}, &wf, &combined_diags) &&
         ValidateWorkflow(&wf, &combined_diags) && CountErrors(combined_diags) == 0;
    if (!ok)
      for (auto& d : combined_diags) {
        d.message = "internal error in the combined A/B workflow: " + d.message;
        diags.push_back(d);
      }
  }
  if (!ok || CountErrors(diags) > 0) {
    PrintDiagnostics(diags);
    fmt::print(stderr, "{}: invalid A/B test; nothing was run\n", cli.file);
    return kExitInvalid;
  }
  PrintDiagnostics(diags);

  RunOptions options = ToRunOptions(cli.exec);
  std::string err;
  if (!Preflight(wf, options, &err) || !PrepareOutputDirectory(options.out_dir, &err) ||
      !MakeDirs(options.out_dir + "/ab-tests", &err)) {
    fmt::print(stderr, "comfyrun abtest: {}\n", err);
    return kExitInvalid;
  }
  const std::string run_id = NewRunId(spec.test_id);
  const std::string journal_path = DefaultJournalPath(options.out_dir, run_id);
  auto journal = JournalWriter::Open(journal_path, options.durability, &err);
  if (!journal) {
    fmt::print(stderr, "comfyrun abtest: {}\n", err);
    return kExitInvalid;
  }
  Json header = RunHeader(&wf, run_id, options);
  header["abtest"] = combined.manifest;
  JournalReplay state;  // what the journal says, kept up to date as records are appended
  journal->MirrorInto(&state);
  if (!journal->Append(header, /*proof=*/true, &err)) {
    fmt::print(stderr, "comfyrun abtest: cannot write the journal {}: {}\n", journal_path, err);
    return kExitInvalid;
  }
  std::vector<std::string> parts;
  for (const auto& v : spec.variants) parts.push_back(fmt::format("{} x{}", v.variant_id, v.repeats));
  fmt::print(stderr, "A/B test {}: {} runs ({}), {} nodes, journal {}\n", spec.test_id, combined.runs.size(),
             fmt::join(parts, ", "), wf.nodes.size(), journal_path);

  Executor::InstallSignalHandlers();
  RunSummary summary;
  {
    Executor executor(wf, options, run_id, journal.get());
    summary = executor.Run();
  }
  journal.reset();
  summary.metrics_path = WriteMetrics(state, &wf, options.out_dir, run_id);
  ExportRunMetrics(summary.metrics_path, cli.exec);
  return FinishAbTest(header, summary, cli.exec);
}

}  // namespace comfyrun
