#include "comfyrun/core/phase_timer.h"

#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace comfyrun {

namespace {
bool StatsEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("COMFYRUN_STATS");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return enabled;
}
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
// Minor page faults of the process so far: each first touch of fresh memory costs one (about
// 1.5 us on a VM), so a phase that allocates hundreds of MB pays for it in system time.
long MinorFaults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}
}  // namespace

PhaseTimer::PhaseTimer(const char* name) : name_(name) {
  if (!StatsEnabled()) return;
  start_ = std::chrono::steady_clock::now();
  start_cpu_ms_ = ProcessCpuMs();
  start_faults_ = MinorFaults();
}

PhaseTimer::~PhaseTimer() {
  if (!StatsEnabled()) return;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "stats: %-28s %9.1f ms wall %9.1f ms cpu %8ld page faults\n", name_, ms,
               ProcessCpuMs() - start_cpu_ms_, MinorFaults() - start_faults_);
}

}  // namespace comfyrun
