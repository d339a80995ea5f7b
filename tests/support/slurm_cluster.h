#pragma once
// A real single-node Slurm for the unit tests: started once per test process by
// tests/e2e/support/slurm_cluster.sh (munged, slurmctld, slurmd on 127.0.0.1, a generated
// slurm.conf in a temporary folder), stopped when the process exits. SLURM_CONF is set in
// this process's environment, so the Slurm tools it runs talk to that cluster.
#include <string>

namespace comfyrun::testing {

struct SlurmCluster {
  bool ok = false;
  std::string error;  ///< why it did not start (the harness's output)
  std::string dir;    ///< its temporary folder (slurm.conf, logs, state)
};

/// Starts the cluster the first time it is called. A test that gets !ok must fail, not skip.
const SlurmCluster& SharedSlurmCluster();

}  // namespace comfyrun::testing
