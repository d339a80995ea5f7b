// Starts and stops the tests' Slurm through the shell harness (slurm_cluster.h).
#include "slurm_cluster.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace comfyrun::testing {
namespace {

struct Holder {
  SlurmCluster cluster;
  ~Holder() {
    if (cluster.dir.empty()) return;
    std::string cmd = std::string("bash ") + COMFYRUN_SOURCE_DIR + "/tests/e2e/support/slurm_cluster.sh stop '" +
                      cluster.dir + "' >/dev/null 2>&1; rm -rf '" + cluster.dir + "'";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "could not stop the test Slurm in %s\n", cluster.dir.c_str());
  }
};

std::string RunCapture(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

}  // namespace

const SlurmCluster& SharedSlurmCluster() {
  static Holder holder;
  static bool started = false;
  if (started) return holder.cluster;
  started = true;
  char tmpl[] = "/tmp/comfyrun-slurm.XXXXXX";
  if (!mkdtemp(tmpl)) {
    holder.cluster.error = "mkdtemp failed";
    return holder.cluster;
  }
  holder.cluster.dir = tmpl;
  int status = 0;
  std::string out = RunCapture(std::string("bash ") + COMFYRUN_SOURCE_DIR +
                                   "/tests/e2e/support/slurm_cluster.sh start '" + holder.cluster.dir + "' 2 2>&1",
                               &status);
  if (status != 0) {
    holder.cluster.error = "cannot start the test Slurm: " + out;
    return holder.cluster;
  }
  setenv("SLURM_CONF", (holder.cluster.dir + "/slurm.conf").c_str(), 1);
  holder.cluster.ok = true;
  return holder.cluster;
}

}  // namespace comfyrun::testing
