// The executor's signal handling (Executor::InstallSignalHandlers and friends).
#include "interrupts.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "comfyrun/engine/executor.h"

namespace comfyrun {
namespace {

std::atomic<int> g_interrupts{0};

void OnSignal(int) {
  // A second Ctrl-C exits at once. Journal records are written with one write(2) each, so
  // the file holds whole records plus at most a torn last line, which readers ignore.
  if (g_interrupts.fetch_add(1) >= 1) _exit(130);
}

}  // namespace

int InterruptCount() { return g_interrupts.load(); }

void Executor::InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}
void Executor::RequestInterrupt() { g_interrupts.store(1); }
void Executor::ResetInterrupt() { g_interrupts.store(0); }

}  // namespace comfyrun
