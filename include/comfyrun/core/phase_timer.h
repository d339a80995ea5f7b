#pragma once
// Phase timings for finding where a command spends its time, like ninja's `-d stats`:
// with COMFYRUN_STATS=1 in the environment, each PhaseTimer prints its name and wall time to
// stderr when it goes out of scope, with the process's CPU time over the phase (all threads),
// which stays meaningful on a loaded machine where wall time does not, and the minor page
// faults the process took over the phase (first touches of fresh memory). Off (the default), it costs one cached getenv
// check.
#include <chrono>

namespace comfyrun {

class PhaseTimer {
 public:
  explicit PhaseTimer(const char* name);
  ~PhaseTimer();
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point start_;
  double start_cpu_ms_ = 0;
  long start_faults_ = 0;
};

}  // namespace comfyrun
