#pragma once
// Resume: which nodes of a replayed journal are already done, before the executor runs.
// Kept apart from executor.cc, whose job is running nodes, not reading what a journal says.
#include <string>
#include <vector>

#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/engine/scheduler.h"
#include "comfyrun/engine/status_printer.h"
#include "node_run.h"

namespace comfyrun {

/// Seeds each node's run from its journal entry (`found[i]`, null = never started): a
/// completed node whose outputs still exist under `out_root` is marked succeeded in the
/// scheduler and keeps its journaled outputs; a completed one whose output is gone is
/// warned about and runs again; every node keeps its attempt count and open submission
/// (re-attached, never paid twice). Returns how many nodes are done.
size_t SeedRunsFromJournal(const Workflow& wf, const std::vector<const JournalNode*>& found,
                           const std::string& out_root, std::vector<NodeRun>* runs, Scheduler* scheduler,
                           StatusPrinter* status);

}  // namespace comfyrun
