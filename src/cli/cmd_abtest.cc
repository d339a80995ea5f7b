// abtest: run the variants of an A/B test as one combined workflow, then compare them.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comfyrun/abtest/results.h"
#include "comfyrun/abtest/runner.h"
#include "comfyrun/abtest/stats.h"
#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/run/header.h"
#include "comfyrun/run/session.h"
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

}  // namespace

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
    JournalHeader header;
    std::string err;
    if (!ReadCheckedJournal(cli.resume, {}, &replay, &header, &err)) {
      fmt::print(stderr, "comfyrun abtest: {}\n", err);
      return kExitInvalid;
    }
    if (!header.is_abtest) {
      fmt::print(stderr,
                 "comfyrun abtest: {} is the journal of a workflow run, not of an A/B test; "
                 "continue it with `comfyrun resume {}`\n",
                 cli.resume, cli.resume);
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

  std::vector<std::string> parts;
  for (const auto& v : spec.variants) parts.push_back(fmt::format("{} x{}", v.variant_id, v.repeats));
  const size_t node_count = wf.nodes.size();
  StartOptions start;
  start.id_base = spec.test_id;
  start.abtest = combined.manifest;
  start.executor = cli.exec.executor;  // --executor slurm: every variant's process nodes, as for `run`
  std::string err;
  RunOptions options = ToRunOptions(cli.exec);
  // Not destroyed: the process exits with it (ExitSkippingTeardown), as after `run`.
  std::unique_ptr<RunSession> session = RunSession::Start(std::move(wf), std::move(options), start, &err);
  if (!session) {
    fmt::print(stderr, "comfyrun abtest: {}\n", err);
    return kExitInvalid;
  }
  fmt::print(stderr, "A/B test {}: {} runs ({}), {} nodes, journal {}\n", spec.test_id, combined.runs.size(),
             fmt::join(parts, ", "), node_count, session->journal_path());
  RunSummary summary = session->Execute();
  ExportRunMetrics(summary.metrics_path, cli.exec);
  int code = FinishAbTest(session->header(), summary, cli.exec);
  ExitSkippingTeardown(code, std::move(session));  // never destroyed: the teardown is skipped on purpose
}

}  // namespace comfyrun
