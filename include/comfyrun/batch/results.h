#pragma once
// What a batch did, row by row, from its journal: the results files
// (<out>/batches/<runId>.json and .csv), the summary line, and the rows line of `status`.
#include <string>
#include <vector>

#include "comfyrun/batch/rows.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

struct RowResult {
  const BatchRow* row = nullptr;
  std::string status;                ///< "succeeded", "failed", "running" (started, not finished), "pending"
  double cost = 0;                   ///< USD, every attempt of the row's nodes
  int64_t duration_ms = 0;           ///< first start to last finish of the row's nodes
  std::string error;                 ///< "node: message" of the row's first failed node
  std::vector<std::string> outputs;  ///< file paths among the outputs of the row's last nodes
};

/// One result per row. `node_ids`: the workflow's node ids as written; `sinks`: those no
/// other node depends on (whose outputs are the row's main outputs).
std::vector<RowResult> CollectRowResults(const std::vector<BatchRow>& rows, const std::vector<std::string>& node_ids,
                                         const std::vector<std::string>& sinks, const JournalReplay& replay);

/// The same for a batch workflow (batch/expand.h) of `rows`, as the batch and resume have it.
std::vector<RowResult> CollectRowResults(const std::vector<BatchRow>& rows, const Workflow& batch_workflow,
                                         const JournalReplay& replay);

/// Writes <out>/batches/<runId>.json and .csv; false with *err. `param_names`: the columns.
/// `base_params`: the values every row starts from (the header's "params"), shown where the row
/// sets none.
bool WriteBatchResults(const std::string& out_dir, const std::string& run_id, const std::string& journal,
                       const std::vector<RowResult>& results, const Json& base_params,
                       const std::vector<std::string>& param_names, std::string* json_path, std::string* csv_path,
                       std::string* err);

/// {"rows": 30, "succeeded": 12, "failed": 1, "running": 2, "pending": 15, "cost": 0.4} of a
/// journal whose header has "batch" (`status --json`); null when it has none or it is damaged.
Json BatchRowCounts(const JournalReplay& replay);

/// "rows: 12 succeeded, 1 failed, 2 running, 15 pending (of 30); cost $0.40" for `status`;
/// "" when the journal is not a batch's.
std::string BatchStatusLine(const JournalReplay& replay);

/// The metrics (metrics/run_metrics.h) of a batch's journal, with the batch's nodes
/// ("<rowKey>/<node>", rebuilt from the header's workflow and rows) instead of the workflow's
/// as written. False when the header has no batch or it cannot be rebuilt.
bool BatchRunMetrics(const JournalReplay& replay, Json* metrics);

/// A CSV field as RFC 4180 writes it: quoted when it holds a comma, quote or line break.
std::string CsvField(const std::string& value);

}  // namespace comfyrun
