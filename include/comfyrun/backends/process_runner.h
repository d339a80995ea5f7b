#pragma once
// ProcessRunner: runs many child processes from one thread, like ninja's SubprocessSet. The
// thread that owns it calls Wait(), which poll()s every child's pipes (plus one extra fd the
// caller wants to watch, e.g. the executor's completion-queue eventfd), reads output as it
// arrives, writes stdin without blocking, reaps children and escalates kills. A child's `done`
// callback runs inside Wait() on that thread, once.
//
// Why not a thread per child: with ~1 ms commands, the hand-offs between a waiting thread and
// the scheduling thread (futex wake-ups, each a context switch) leave cores idle.
//
// Not thread-safe: one thread calls everything. The caller ignores SIGPIPE (comfyrun does, in
// Executor::InstallSignalHandlers), so that writing to a program that closed its stdin fails
// with EPIPE instead of killing us.
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "comfyrun/engine/process_spec.h"

namespace comfyrun {

class ProcessRunner {
 public:
  using Id = uint64_t;  ///< never 0, never reused
  using Done = std::function<void(ProcessOutcome)>;

  /// How long a cancelled program has between SIGTERM and SIGKILL.
  static constexpr double kKillGraceSeconds = 2.0;

  ProcessRunner();
  ~ProcessRunner();  ///< SIGKILLs the process group of every child still running and reaps it
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  /// Starts a program in a new process group. Returns its id, or 0 with `*spawn_error` set
  /// (an errno; `done` is then never called).
  Id Start(const ProcessSpec& spec, Done done, int* spawn_error);

  /// Asks a running program to stop: SIGTERM to its process group now, SIGKILL
  /// kKillGraceSeconds later (from Wait, never blocking). Its `done` gets cancelled = true
  /// once the program itself has exited, even if something it started still holds its pipes.
  /// No-op for an id that already finished.
  void Cancel(Id id);

  /// Waits up to `timeout` seconds for output, exits, the next kill deadline, or `extra_fd`
  /// (>= 0) becoming readable; handles what happened and calls `done` of every child that
  /// finished. Returns true when `extra_fd` is readable.
  bool Wait(double timeout, int extra_fd = -1);

  size_t running() const;

 private:
  struct Child;
  std::vector<std::unique_ptr<Child>> children_;
  Id next_id_ = 1;
  std::vector<char> buffer_;                    // one read's worth
  std::vector<struct pollfd> fds_;              // Wait's poll set, kept to reuse its memory
  std::vector<std::pair<size_t, int>> owners_;  // fds_[k] belongs to children_[owners_[k].first]
};

}  // namespace comfyrun
