// comfyrun: runs AI content-generation workflows from the command line. All logic lives in
// comfyrun_core; this file only hands over the arguments.
#include <csignal>

#include "comfyrun/cli/cli.h"

int main(int argc, char** argv) {
  // A file size limit (ulimit -f) must not kill the process mid-write: ignored, the write
  // fails with EFBIG, which the journal and the artifact writers report like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  return comfyrun::RunCli(argc, argv);
}
