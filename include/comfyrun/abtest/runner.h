#pragma once
// A/B test definitions and how they run (issue 7): load and validate a test file, combine
// every run of every variant into one workflow, and read the runs back from its journal.
//
// Test file format (JSON; README.md "A/B tests" has the user's version):
//   {"testId": "prompts-v1-vs-v2",          required; letters, digits, '.', '_', '-'
//    "description": "...",
//    "repeats": 3,                           runs per variant (default 1; --repeats wins)
//    "quality": "judge.score",               optional: node id + output path of the score
//    "qualityScale": 10,                     optional: the value of a perfect score
//    "baseline": "v1",                       optional: the variant the others are compared to
//    "graph": "graphs/x.json",               optional: default graph of the variants below
//    "params": {"NAME": value},              optional: param values for every graph variant
//    "variants": [
//      {"variantId": "v1", "workflowId": "...", "nodes": [...]},       the older format
//      {"variantId": "v2", "graph": "graphs/x.json", "params": {...},  a workflow file plus
//       "repeats": 5, "quality": "check.qualityScore"}                  param overrides
//    ]}
// A graph path is looked up relative to the test file's folder first, then to the working
// directory. Inline variants may also carry the workflow keys params, defaults and pools.
//
// How a test runs: one combined Workflow whose nodes are every node of every run, renamed
// "<variantId>__r<k>__<nodeId>" (AbNodeId), with templates and dependsOn rewritten to the
// renamed nodes and "<<params.NAME>>" to "<<params.<variantId>__NAME>>". Runs are laid out
// round-robin (r0 of every variant, then r1, ...), so the scheduler's index tie-break
// interleaves the variants; one Executor and one journal bound everything by -j, the pools and
// one --max-cost, and resume skips finished runs like any other run. The journal header
// carries the manifest (AbManifest) under "abtest", which is all CollectAbRuns needs later.
//
// Quality per run: the named output (test or variant "quality"), else the last node (in file
// order) whose outputs have a number "qualityScore", else none. Scores are normalised to the
// 0-10 scale of the statistics: q * 10 / scale, where scale is qualityScale, else 1 for a
// media_probe's qualityScore (0..1) and 10 for anything else.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/abtest/stats.h"
#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/template_rewrite.h"  // RewriteTemplates, used by the runner and its tests
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

/// Largest number of runs per variant accepted in a file or by --repeats.
constexpr int kMaxAbRepeats = 1000;

/// Where a run's quality score comes from: `<<node.path>>` of the variant's own node ids.
struct AbQualityRef {
  std::string node;
  std::vector<PathStep> steps;
  std::string text;  ///< as written in the test, e.g. "judge.score"
};

struct AbVariantSpec {
  std::string variant_id;
  std::string workflow_id;
  std::string graph;      ///< the graph file as found, "" for inline nodes
  std::string json_path;  ///< "$.variants[1]" in the test file
  int repeats = 1;
  std::optional<AbQualityRef> quality;  ///< nullopt: look for a qualityScore output
  Workflow workflow;                    ///< built and validated, params final
};

struct AbTestSpec {
  std::string file;  ///< the test file as given
  std::string test_id, description;
  std::string baseline;  ///< "" = the first variant
  std::optional<double> quality_scale;
  std::vector<AbVariantSpec> variants;
};

struct AbLoadOptions {
  int repeats = 0;  ///< > 0: overrides every "repeats" of the file (--repeats)
};

/// Parses and validates a test definition: every variant is built and validated as a
/// workflow, and every problem of every variant is reported (file, variant, node, JSON path).
/// Returns false when any error was added to *diags; nothing may run then.
bool ParseAbTest(const Json& doc, const std::string& file, const AbLoadOptions& options, AbTestSpec* spec,
                 std::vector<Diagnostic>* diags);
/// LoadJsonFile + ParseAbTest.
bool LoadAbTest(const std::string& path, const AbLoadOptions& options, AbTestSpec* spec,
                std::vector<Diagnostic>* diags);

/// "<variantId>__r<repeat>__<nodeId>": the id of a run's node in the combined workflow.
std::string AbNodeId(const std::string& variant_id, int repeat, const std::string& node_id);

/// One run of one variant, in the order the runs are laid out.
struct AbRunSlot {
  std::string variant_id;
  int repeat = 0;
};

/// Round-robin order of the runs: repeat 0 of every variant (in file order), then repeat 1 of
/// those that have one, and so on.
std::vector<AbRunSlot> InterleavedRuns(const AbTestSpec& spec);

/// The combined workflow document of a test and the manifest for the journal header.
struct AbCombined {
  Json document;                ///< a workflow document (workflowId = testId)
  Json manifest;                ///< see AbManifest below
  std::vector<AbRunSlot> runs;  ///< interleaved order
};
/// Builds the combined document and manifest. The manifest is
///   {"testId", "description", "file", "baseline", "qualityScale" (null = default),
///    "variants": [{"variantId", "workflowId", "graph", "repeats", "quality" (text or null),
///                  "nodes": [{"id", "type"}]}],
///    "runs": [{"variantId", "repeat"}]}
/// `spec` must come from a successful ParseAbTest (which checks that every combined node id is
/// valid); then this cannot fail, and the result builds and validates as a workflow. `diags`
/// is for future checks of the combination itself.
bool CombineAbTest(const AbTestSpec& spec, AbCombined* combined, std::vector<Diagnostic>* diags);

/// The quality score of one run, normalised to 0-10 (see the top of this file). `outputs`
/// maps the variant's node ids to their outputs (completed nodes only); `variant` is the
/// variant's manifest entry. *source says where the score came from, or why there is none.
std::optional<double> ExtractQuality(const Json& variant, const Json& outputs, std::optional<double> scale,
                                     std::string* source);

/// The runs of a test as its journal records them.
struct AbCollected {
  std::vector<AbVariantInfo> variants;
  std::vector<AbRun> runs;                ///< finished runs (succeeded or failed), manifest order
  int unfinished = 0;                     ///< runs left out: not started, stopped or cut by --max-cost
  Json quality_sources = Json::object();  ///< variantId -> where its scores came from
};
/// Reads every run out of a replay. A run succeeded when all its nodes completed; it failed
/// when one of its nodes failed (a node refused by --max-cost does not count: that run is
/// unfinished). Duration is the run's critical path over node execution times, so time spent
/// waiting for a -j or pool slot behind other runs does not count; cost is every attempt's.
AbCollected CollectAbRuns(const Json& manifest, const Workflow& combined, const JournalReplay& replay);

}  // namespace comfyrun
