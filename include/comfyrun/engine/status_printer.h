#pragma once
// What a person sees while a run goes on (stderr; stdout stays free for --json).
// On a terminal: one ninja-like line, rewritten in place:
//   [3/10] running 2: clip_1 (sampling 12/30), clip_2 | $1.35 | 0:42
// Elsewhere (a pipe, a log file, cron): one plain line per event, and a node's progress when
// it enters a new phase, then at most every 10 s ("[3/10] progress clip_1: sampling 12/30").
// --quiet: failures only.
// Called only from the executor's thread.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>

namespace comfyrun {

class StatusPrinter {
 public:
  enum class Mode { kAuto, kTerminal, kPlain, kQuiet };
  StatusPrinter(size_t total_nodes, Mode mode);

  void SetAlreadyDone(size_t done, double cost);  ///< resume: nodes completed earlier
  void NodeStarted(const std::string& node, int attempt);
  void NodeCompleted(const std::string& node, double seconds, double cost, bool cached);
  void NodeRetrying(const std::string& node, int attempt, const std::string& error, const std::string& message,
                    double delay);
  void NodeFailed(const std::string& node, const std::string& error, const std::string& message);
  void NodeSkipped(const std::string& node, const std::string& because);
  void NodeProgress(const std::string& node, const std::string& text);
  void Info(const std::string& text);
  void Warning(const std::string& text);
  void Error(const std::string& text);
  /// Refreshes the terminal line (elapsed time); cheap, call it from the main loop.
  void Tick();
  /// Clears the terminal line before the final summary.
  void Finish();

 private:
  void Print(const std::string& line, bool important);
  void Redraw();
  std::string Prefix() const;

  size_t total_;
  size_t done_ = 0;
  double cost_ = 0;
  Mode mode_;
  bool line_shown_ = false;
  std::map<std::string, std::string> running_;  // node -> progress text
  static constexpr std::chrono::seconds kPlainProgressEvery{10};
  struct ProgressLine {
    std::chrono::steady_clock::time_point at;
    std::string phase;  ///< the progress text without its digits
  };
  std::map<std::string, ProgressLine> last_progress_line_;  // plain mode: the last one printed
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_redraw_;
};

/// Writes console text (stdout or stderr) and never throws nor kills the process. When the
/// reader has gone (EPIPE: `| head -1` exited) or the stream is closed or broken, the stream is
/// pointed at /dev/null: the run goes on and stops writing there, and its journal, metrics
/// and exit code are as they would have been. False when the text was not written.
bool WriteConsole(std::FILE* stream, std::string_view text);

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null when a caller closed them with
/// `>&-`), so that no file the run opens (a journal) becomes stdout or stderr. Call first.
void EnsureStandardDescriptors();

}  // namespace comfyrun
