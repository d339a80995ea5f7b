#pragma once
// A batch as one workflow: every row gets its own copy of the workflow's nodes, so that one
// executor, one journal, one scheduler (-j, pools, provider limits) and one --max-cost budget
// serve every row, and the executor needs to know nothing about rows.
//
//   node id      "<rowKey>/<nodeId>": the executor puts a node's files at run_dir + "/" + id,
//                so each row's files land in runs/<runId>/<rowKey>/<nodeId>/
//   references   a node id may not hold '/' in a template (template.h), so a row's
//                <<gen.path>> is rewritten to <<row<N>__gen.path>> (N: the row's number), an
//                alias that Workflow::index maps to the row's node
//   params       <<params.X>> that is a whole input becomes the row's typed value (so that
//                validation and cost estimates see it); elsewhere it is rewritten to
//                <<params.row<N>__X>>, a key of the batch workflow's params
//
// The journal header keeps the workflow as written and the rows ("batch"); resume expands it
// again the same way (BatchResumeWorkflow), so node ids and aliases are the same.
#include <string>
#include <vector>

#include "comfyrun/batch/rows.h"
#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"

namespace comfyrun {

/// "<rowKey>/<nodeId>"
std::string BatchNodeId(const std::string& row_key, const std::string& node_id);

/// The batch workflow of `rows` over `base` (built and validated). `base.document` is left
/// alone (the caller moves it into the header). Then ValidateWorkflow checks every row.
void ExpandBatch(const Workflow& base, const std::vector<BatchRow>& rows, Workflow* out);

/// The header's "batch": the rows and where they came from.
struct BatchSource {
  std::string rows_file;  ///< absolute path, "" for a sweep alone
  std::string rows_sha256;
  std::vector<std::string> sweeps;  ///< the --sweep arguments as given
  std::string key_column, slice;    ///< --key, --rows/--limit as given
};
Json EncodeBatchManifest(const std::vector<BatchRow>& rows, const BatchSource& source);

/// The rows of a journal header's "batch". False with *err naming the JSON path.
bool DecodeBatchRows(const Json& header, std::vector<BatchRow>* rows, std::string* err);

/// For `resume` of a batch journal: the batch workflow again, from the header's workflow,
/// params and rows. False with diagnostics; *hash_error when the rows no longer match the hash
/// the header recorded for them (the caller decides, as for the workflow's hash).
bool BatchResumeWorkflow(const Json& header, const std::string& file, const std::vector<ParamOverride>& params,
                         Workflow* out, std::vector<Diagnostic>* diags, std::string* hash_error);

}  // namespace comfyrun
