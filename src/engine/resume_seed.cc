#include "resume_seed.h"

#include <fmt/format.h>

namespace comfyrun {

size_t SeedRunsFromJournal(const Workflow& wf, const std::vector<const JournalNode*>& found,
                           const std::string& out_root, std::vector<NodeRun>* runs, Scheduler* scheduler,
                           StatusPrinter* status) {
  size_t done = 0;
  for (size_t i = 0; i < wf.nodes.size(); ++i) {
    if (!found[i]) continue;
    const JournalNode& jn = *found[i];
    NodeRun& run = (*runs)[i];
    run.attempt = jn.attempts;
    if (jn.status == JournalNode::Status::kCompleted) {
      std::string missing;
      if (ReplayedOutputsExist(jn.outputs, out_root, &missing)) {
        run.seeded_outputs = &jn.outputs;  // the replay outlives the run and keeps this node as is
        scheduler->MarkSucceeded(i);
        ++done;
        continue;
      }
      status->Warning(fmt::format("{}: its output {} is gone; running it again", wf.nodes[i].id, missing));
    }
    run.submission = jn.open_submission;
  }
  return done;
}

}  // namespace comfyrun
