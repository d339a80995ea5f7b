#include "comfyrun/phase_timer.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <time.h>

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
}  // namespace

PhaseTimer::PhaseTimer(const char* name) : name_(name) {
  if (!StatsEnabled()) return;
  start_ = std::chrono::steady_clock::now();
  start_cpu_ms_ = ProcessCpuMs();
}

PhaseTimer::~PhaseTimer() {
  if (!StatsEnabled()) return;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "stats: %-28s %9.1f ms wall %9.1f ms cpu\n", name_, ms, ProcessCpuMs() - start_cpu_ms_);
}

}  // namespace comfyrun
