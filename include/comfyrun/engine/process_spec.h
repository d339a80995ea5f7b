#pragma once
// What a process-mode node kind asks the engine to run, and how it ended (backends/process_runner.h
// runs it). Plain data, so that node_kind.h can name these without pulling in the runner.
#include <cstddef>
#include <string>
#include <vector>

namespace comfyrun {

struct ProcessSpec {
  /// Program and arguments. argv[0] without a '/' is looked up in PATH.
  std::vector<std::string> argv;
  /// Working directory; empty: ours.
  std::string cwd;
  /// Extra "NAME=value" entries; a name given here replaces ours.
  std::vector<std::string> env;
  /// Written to the program's stdin, which then reaches end-of-file.
  std::string stdin_text;
  /// stdout beyond this is dropped (ProcessOutcome::stdout_truncated).
  size_t max_stdout = 16 << 20;
  /// Only the last this-many bytes of stderr are kept.
  size_t stderr_tail = 64 << 10;
};

struct ProcessOutcome {
  /// errno when the program could not be started (ENOENT: not found); nothing below is set.
  int spawn_error = 0;
  /// Cancel() was called before the program ended (it was sent SIGTERM, maybe SIGKILL).
  bool cancelled = false;
  /// The exit code when the program exited, or -1.
  int exit_code = -1;
  /// The signal that killed it, or 0.
  int term_signal = 0;
  std::string stdout_text;
  bool stdout_truncated = false;
  std::string stderr_text;  ///< the tail
};

}  // namespace comfyrun
