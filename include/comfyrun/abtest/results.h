#pragma once
// The A/B result JSON (schema version 2, docs/abtest.md, "The result file") and the terminal comparison
// table, both built from an AbAnalysis (stats.h).
#include <string>

#include "comfyrun/abtest/stats.h"
#include "comfyrun/core/json.h"

namespace comfyrun {

/// The result document: the older system's fields (testId, description, variants[{variantId,
/// workflowId, success, duration, cost, qualityScore, outputs}], winner, confidence) filled with
/// aggregates, plus ABTEST.md §5's analysis, per-variant statistics, comparisons, decision,
/// warnings and legacy block, keys in the order of the example report. Statistics are rounded
/// to 10 significant digits; values that cannot be computed are null (never NaN or inf).
/// `duration` is mean milliseconds over all runs (§5.2).
Json AbResultJson(const std::string& test_id, const std::string& description, const AbAnalysis& analysis);

/// A readable comparison table for the terminal (one row per variant, then the decision and
/// warnings). Plain ASCII; no trailing newline issues: every line ends with '\n'.
std::string FormatAbTable(const std::string& test_id, const AbAnalysis& analysis);

}  // namespace comfyrun
