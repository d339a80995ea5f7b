#pragma once
// The journal's header record: its format, and the one place that writes it (EncodeHeader)
// and reads it back (DecodeHeader). journal.h has the records that follow it.
//
// The first line of every journal (format version 1) is the header:
//   {"type":"header","format":1,"runId":..,"workflowId":..,"file":..,"workflow":{..},
//    "params":{..},"hash":"<sha256 of workflow+params>","options":{..},"comfyrun":"0.1.0",
//    "abtest":{..},"t":..}
//   runId       string, a plain name: it names runs/<runId>/ and metrics/<runId>.json
//   workflowId  string: the workflow's id
//   file        string: the workflow file's absolute path when the run started
//   workflow    object: the whole workflow document as loaded; resume runs it again
//   params      object: the final param values (defaults overridden by --param)
//   hash        string: hex SHA-256 of the compact JSON text of "workflow" followed by that of
//               "params" (in the header's key order); resume refuses a header whose workflow
//               or params no longer match it (a hand edit, a damaged copy) unless --force
//   options     object: the run's options, which resume reuses unless given again:
//               out (string), jobs (integer 1..100000), durability ("full"|"batch"|"none"),
//               offline (bool), failFast (bool), maxCost (number: -1 no limit, or >= 0),
//               comfyui (array of URL strings), cache ("workflow"|"on"|"off")
//   comfyrun    string: the version that started the run
//   abtest      object, only for an A/B test: the test's manifest (testId, variants with their
//               nodes and repeats, runs, baseline), which abtest reads the results back with
//   batch       object, only for `comfyrun batch`: the rows (number, key, params), where they
//               came from and their hash (batch/expand.h); "workflow" is the workflow as written
//               and "params" the values every row starts from
//   t           unix milliseconds
// Every reader (resume, status, report, trace) decodes the header through DecodeHeader
// before it uses any field, so a damaged header is an error naming the field's JSON path,
// never a crash or a run of the wrong thing.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "comfyrun/cache/run_cache.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

/// The run's options as the header recorded them; each is absent when the header lacks it.
struct HeaderOptions {
  std::optional<std::string> out;
  std::optional<int> jobs;
  std::optional<Durability> durability;
  std::optional<bool> offline, fail_fast;
  std::optional<double> max_cost;  ///< -1: no limit
  std::optional<std::vector<std::string>> comfyui;
  std::optional<CacheMode> cache;
};

/// A decoded, checked header. `workflow` stays in the Json header (it can be large).
struct JournalHeader {
  int format = 0;
  std::string run_id;
  std::string workflow_id;
  std::string file;                   ///< "" when the header has none
  std::vector<ParamOverride> params;  ///< the final values, as --param would give them
  std::string hash;                   ///< "" when the header has none
  HeaderOptions options;
  std::string comfyrun_version;
  bool is_abtest = false;  ///< "abtest" present (then checked: an object)
  bool is_batch = false;   ///< "batch" present (then checked: an object)
};

/// The header record of a new run of `wf` (`abtest`: the A/B manifest, or null). The workflow
/// document moves into it (wf->document is left null): the journal keeps it, and the run
/// needs only the built nodes.
Json EncodeHeader(Workflow* wf, const std::string& run_id, const RunOptions& options, Json abtest = nullptr);

/// The header's "options" for RunOptions.
Json EncodeHeaderOptions(const RunOptions& options);

/// Checks every field of a header (the layout above) and decodes it. `workflow_taken`: the
/// reader handed "workflow" to a builder (JournalReadOptions::on_header), so its absence is
/// expected. False with *err naming the field's JSON path ("$.options.jobs: expected an
/// integer from 1 to 100000, found \"many\"").
bool DecodeHeader(const Json& header, bool workflow_taken, JournalHeader* out, std::string* err);

/// The header's hash of a workflow and params given as compact JSON text.
std::string HeaderHash(std::string_view workflow_text, std::string_view params_text);

/// Whether the header's "hash" matches its workflow (given as compact JSON text, as
/// HeaderWorkflow::Text or AppendJson gives it) and params. A header without a hash matches.
/// False with *err saying what differs.
bool CheckHeaderHash(const Json& header, std::string_view workflow_text, std::string* err);

/// ReadJournal, then DecodeHeader of its header: what every reader of a finished or live
/// journal (status, report, trace) uses. False with *err starting with the journal's path;
/// a damaged header says "damaged journal header" and the field's JSON path.
bool ReadCheckedJournal(const std::string& path, const JournalReadOptions& options, JournalReplay* replay,
                        JournalHeader* header, std::string* err);

}  // namespace comfyrun
