#include "comfyrun/engine/status_printer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "comfyrun/core/util.h"

namespace comfyrun {

namespace {
/// Points a console stream whose reader is gone at /dev/null (the same descriptor number, so
/// every later write through it, fmt's and spdlog's included, succeeds and goes nowhere).
void SilenceStream(std::FILE* stream) {
  int fd = fileno(stream);
  int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd >= 0 && null_fd >= 0) dup2(null_fd, fd);
  if (null_fd >= 0 && null_fd != fd) close(null_fd);
  clearerr(stream);
}
}  // namespace

bool WriteConsole(std::FILE* stream, std::string_view text) {
  errno = 0;
  size_t written = std::fwrite(text.data(), 1, text.size(), stream);
  bool ok = written == text.size() && std::fflush(stream) == 0;
  if (!ok) SilenceStream(stream);  // EPIPE, EBADF, EIO: nobody reads it any more
  return ok;
}

void EnsureStandardDescriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // the lowest free number: fd
    if (opened >= 0 && opened != fd) {
      dup2(opened, fd);
      close(opened);
    }
  }
}

StatusPrinter::StatusPrinter(size_t total_nodes, Mode mode) : total_(total_nodes), mode_(mode) {
  if (mode_ == Mode::kAuto) {
    const char* term = getenv("TERM");
    bool dumb = term && std::string(term) == "dumb";
    mode_ = isatty(STDERR_FILENO) && !dumb ? Mode::kTerminal : Mode::kPlain;
  }
  start_ = last_redraw_ = std::chrono::steady_clock::now();
}

void StatusPrinter::SetAlreadyDone(size_t done, double cost) {
  done_ = done;
  cost_ = cost;
}

std::string StatusPrinter::Prefix() const { return fmt::format("[{}/{}]", done_, total_); }

void StatusPrinter::Print(const std::string& line, bool important) {
  if (mode_ == Mode::kQuiet && !important) return;
  std::string text = mode_ == Mode::kTerminal && line_shown_ ? "\r\x1b[K" : "";
  text += line;
  text += '\n';
  WriteConsole(stderr, text);
  line_shown_ = false;
  if (mode_ == Mode::kTerminal) Redraw();
}

void StatusPrinter::Redraw() {
  if (mode_ != Mode::kTerminal) return;
  last_redraw_ = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(last_redraw_ - start_).count();
  std::string names;
  size_t shown = 0;
  for (const auto& [node, progress] : running_) {
    if (shown == 3) {
      names += fmt::format(", +{}", running_.size() - 3);
      break;
    }
    names += (shown++ ? ", " : "") + node + (progress.empty() ? "" : " (" + progress + ")");
  }
  std::string line =
      fmt::format("{} running {}: {} | ${:.2f} | {}", Prefix(), running_.size(), names, cost_, FormatDuration(elapsed));
  // Keep to one terminal row so that \r rewrites it.
  if (line.size() > 150) line = line.substr(0, 147) + "...";
  WriteConsole(stderr, "\r\x1b[K" + line);
  line_shown_ = true;
}

void StatusPrinter::NodeStarted(const std::string& node, int attempt) {
  running_[node] = attempt > 1 ? fmt::format("attempt {}", attempt) : "";
  if (mode_ == Mode::kTerminal)
    Redraw();
  else if (mode_ != Mode::kQuiet)  // not even formatted when quiet: it adds up over 100,000 nodes
    Print(fmt::format("{} start {}{}", Prefix(), node, attempt > 1 ? fmt::format(" (attempt {})", attempt) : ""),
          false);
}

void StatusPrinter::NodeCompleted(const std::string& node, double seconds, double cost, bool cached) {
  running_.erase(node);
  last_progress_line_.erase(node);
  ++done_;
  cost_ += cost;
  if (mode_ == Mode::kQuiet) return;
  Print(fmt::format("{} done  {} in {}{}{}", Prefix(), node, FormatDuration(seconds),
                    cost > 0 ? fmt::format(", ${:.2f}", cost) : "", cached ? " (cached)" : ""),
        false);
}

void StatusPrinter::NodeRetrying(const std::string& node, int attempt, const std::string& error,
                                 const std::string& message, double delay) {
  running_.erase(node);
  last_progress_line_.erase(node);
  Print(fmt::format("{} retry {}: attempt {} failed ({}: {}); next in {}", Prefix(), node, attempt, error, message,
                    FormatDuration(delay)),
        false);
}

void StatusPrinter::NodeFailed(const std::string& node, const std::string& error, const std::string& message) {
  running_.erase(node);
  last_progress_line_.erase(node);
  ++done_;
  Print(fmt::format("{} FAILED {}: {}: {}", Prefix(), node, error, message), true);
}

void StatusPrinter::NodeSkipped(const std::string& node, const std::string& because) {
  ++done_;
  Print(fmt::format("{} skip  {} ({})", Prefix(), node, because), false);
}

void StatusPrinter::NodeProgress(const std::string& node, const std::string& text) {
  auto it = running_.find(node);
  if (it == running_.end()) return;
  it->second = text;
  if (mode_ == Mode::kTerminal) {
    Tick();
    return;
  }
  if (mode_ != Mode::kPlain || text.empty()) return;
  // A log (cron, a pipe) gets each new phase of a node at once ("waiting for a ComfyUI
  // server", then "KSampler #3 1/20 on host"), and a phase's counter at most every
  // kPlainProgressEvery: enough to see a long generation move, not one line per step.
  auto without_digits = [](const std::string& t) {
    std::string out;
    for (char c : t)
      if (c < '0' || c > '9') out += c;
    return out;
  };
  auto now = std::chrono::steady_clock::now();
  std::string phase = without_digits(text);
  auto last = last_progress_line_.find(node);
  if (last != last_progress_line_.end() && last->second.phase == phase && now - last->second.at < kPlainProgressEvery)
    return;
  last_progress_line_[node] = {now, phase};
  Print(fmt::format("{} progress {}: {}", Prefix(), node, text), false);
}

void StatusPrinter::Info(const std::string& text) { Print(text, false); }
void StatusPrinter::Warning(const std::string& text) { Print("warning: " + text, true); }
void StatusPrinter::Error(const std::string& text) { Print("error: " + text, true); }

void StatusPrinter::Tick() {
  if (mode_ != Mode::kTerminal) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_redraw_ < std::chrono::milliseconds(100)) return;  // at most 10 redraws a second
  Redraw();
}

void StatusPrinter::Finish() {
  if (mode_ == Mode::kTerminal && line_shown_) {
    WriteConsole(stderr, "\r\x1b[K");
    line_shown_ = false;
  }
}

}  // namespace comfyrun
