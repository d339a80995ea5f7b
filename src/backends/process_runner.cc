#include "comfyrun/backends/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>

#include "comfyrun/engine/program_paths.h"

extern char** environ;

// Implementation details
// - A child is done when it has been reaped and both output pipes reached end-of-file (all
//   its output is read), as in ninja. A program that closes its output but keeps running is
//   noticed through a pidfd, opened only then: in the common case (output ends at exit) a
//   waitpid(WNOHANG) right after end-of-file reaps it with no extra fd.
// - A cancelled child is done as soon as the program itself has exited (pidfd), whatever
//   still holds its pipes. It is then kept as an unreaped zombie until its kill deadline, so
//   that its pid cannot be reused and kill(-pid, SIGKILL) still reaches only its own process
//   group: whatever the program started and left behind in the group gets the same grace
//   period, then SIGKILL.

namespace comfyrun {
namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/// Our environment with `extra` ("NAME=value") replacing entries of the same name.
std::vector<std::string> MergedEnvironment(const std::vector<std::string>& extra) {
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> names;
  for (const auto& e : extra) names.push_back(name_of(e));
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    if (std::find(names.begin(), names.end(), name_of(entry)) == names.end()) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

/// posix_spawn with the PATH cache (engine/program_paths.h); posix_spawnp when the cache has
/// nothing or its path no longer works. Returns 0 or an errno.
int Spawn(pid_t* pid, const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attr,
          const std::vector<std::string>& argv, char* const* envp) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string program = Programs().Find(argv[0]);
  int rc = program.empty() ? ENOENT : posix_spawn(pid, program.c_str(), actions, attr, args.data(), envp);
  if (rc != 0) {
    if (!program.empty() && program != argv[0]) Programs().Forget(argv[0]);
    if (program != argv[0]) rc = posix_spawnp(pid, args[0], actions, attr, args.data(), envp);
  }
  return rc;
}

}  // namespace

struct ProcessRunner::Child {
  Id id = 0;
  pid_t pid = -1;
  int out = -1, err = -1, in = -1;  // our ends of its stdout, stderr and stdin pipes
  int pidfd = -1;                   // opened when its exit must be noticed without its pipes
  bool poll_exit = false;           // no pidfd (old kernel): look with waitid every round
  std::string stdin_text;
  size_t stdin_written = 0;
  size_t max_stdout = 0, stderr_tail = 0;
  ProcessOutcome outcome;
  bool exited = false;  // its status is in `outcome`
  bool reaped = false;
  bool reported = false;  // `done` was called
  double kill_at = 0;     // steady seconds of the SIGKILL for a cancelled child; 0: none pending
  Done done;

  bool pipes_open() const { return out >= 0 || err >= 0; }
  void CloseAll() {
    CloseFd(&out);
    CloseFd(&err);
    CloseFd(&in);
    CloseFd(&pidfd);
  }
  void SetStatus(int code, int status) {
    exited = true;
    if (code == CLD_EXITED)
      outcome.exit_code = status;
    else
      outcome.term_signal = status;
  }
  /// Looks whether the program has exited; reaps it only when `reap`.
  void CheckExit(bool reap) {
    if (exited && (reaped || !reap)) return;
    siginfo_t info{};
    int flags = WEXITED | WNOHANG | (reap ? 0 : WNOWAIT);
    while (waitid(P_PID, static_cast<id_t>(pid), &info, flags) < 0 && errno == EINTR) {
    }
    if (info.si_pid != pid) return;  // still running
    if (!exited) SetStatus(info.si_code, info.si_status);
    reaped = reap;
  }
  /// Makes Wait wake up when the program exits, even if its pipes stay open.
  void WatchExit() {
    if (pidfd >= 0 || poll_exit) return;
    // The raw syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C". The fd is close-on-exec.
    pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) poll_exit = true;
  }
  /// Hands the outcome over, with stderr cut to the promised tail.
  ProcessOutcome TakeOutcome() {
    std::string& err_text = outcome.stderr_text;
    if (err_text.size() > stderr_tail) err_text.erase(0, err_text.size() - stderr_tail);
    return std::move(outcome);
  }
};

ProcessRunner::ProcessRunner() : buffer_(64 << 10) {}

ProcessRunner::~ProcessRunner() {
  // Whatever is left was abandoned by the caller (it stopped waiting): no program outlives us.
  for (auto& c : children_) {
    if (!c->reaped) {
      kill(-c->pid, SIGKILL);
      while (waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    c->CloseAll();
  }
}

size_t ProcessRunner::running() const {
  return static_cast<size_t>(
      std::count_if(children_.begin(), children_.end(), [](const auto& c) { return !c->reported; }));
}

ProcessRunner::Id ProcessRunner::Start(const ProcessSpec& spec, Done done, int* spawn_error) {
  *spawn_error = 0;
  if (spec.argv.empty()) {
    *spawn_error = EINVAL;
    return 0;
  }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
    *spawn_error = errno;
    for (int* p : {out, err, in}) {
      CloseFd(&p[0]);
      CloseFd(&p[1]);
    }
    return 0;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a timeout or Ctrl-C stops the program and everything it started.
  posix_spawnattr_setpgroup(&attr, 0);
  // Signals we ignore stay ignored across exec; those we catch are reset by exec anyway, but
  // glibc's spawn would otherwise keep them caught between fork and exec.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);  // comfyrun ignores it (main.cc); the program gets the default
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  int rc;
  if (spec.env.empty()) {
    rc = Spawn(&pid, &actions, &attr, spec.argv, environ);
  } else {
    std::vector<std::string> env = MergedEnvironment(spec.env);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    rc = Spawn(&pid, &actions, &attr, spec.argv, envp.data());
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseFd(&in[0]);
  CloseFd(&out[1]);
  CloseFd(&err[1]);
  if (rc != 0) {
    *spawn_error = rc;
    CloseFd(&in[1]);
    CloseFd(&out[0]);
    CloseFd(&err[0]);
    return 0;
  }

  auto c = std::make_unique<Child>();
  c->id = next_id_++;
  c->pid = pid;
  c->out = out[0];
  c->err = err[0];
  c->max_stdout = spec.max_stdout;
  c->stderr_tail = spec.stderr_tail;
  c->done = std::move(done);
  if (spec.stdin_text.empty()) {
    CloseFd(&in[1]);  // end-of-file at once
  } else {
    c->in = in[1];
    c->stdin_text = spec.stdin_text;
    fcntl(c->in, F_SETFL, O_NONBLOCK);  // a program that does not read must not stop our loop
  }
  Id id = c->id;
  children_.push_back(std::move(c));
  return id;
}

void ProcessRunner::Cancel(Id id) {
  auto it = std::find_if(children_.begin(), children_.end(), [id](const auto& c) { return c->id == id; });
  if (it == children_.end()) return;
  Child& c = **it;
  if (c.reported || c.outcome.cancelled) return;
  c.outcome.cancelled = true;
  c.kill_at = Now() + kKillGraceSeconds;
  kill(-c.pid, SIGTERM);
  c.WatchExit();
}

bool ProcessRunner::Wait(double timeout, int extra_fd) {
  // What each pollfd is: (child index, which fd of it).
  enum Which { kOut, kErr, kIn, kPidfd };
  std::vector<pollfd>& fds = fds_;
  std::vector<std::pair<size_t, int>>& owners = owners_;
  fds.clear();
  owners.clear();
  double now = Now();
  for (size_t k = 0; k < children_.size(); ++k) {
    Child& c = *children_[k];
    if (c.kill_at > 0) timeout = std::min(timeout, std::max(0.0, c.kill_at - now));
    if (c.poll_exit) timeout = std::min(timeout, 0.01);
    if (c.reported) continue;  // a cancelled zombie waiting for its kill deadline
    auto watch = [&](int fd, short events, Which which) {
      if (fd < 0) return;
      fds.push_back({fd, events, 0});
      owners.emplace_back(k, which);
    };
    watch(c.out, POLLIN, kOut);
    watch(c.err, POLLIN, kErr);
    watch(c.in, POLLOUT, kIn);
    watch(c.pidfd, POLLIN, kPidfd);
  }
  if (extra_fd >= 0) fds.push_back({extra_fd, POLLIN, 0});
  int ms = static_cast<int>(std::ceil(std::max(0.0, timeout) * 1000));
  int n = poll(fds.data(), fds.size(), ms);
  bool extra_ready = false;
  if (n > 0) {
    for (size_t f = 0; f < fds.size(); ++f) {
      if (!fds[f].revents) continue;
      if (f >= owners.size()) {
        extra_ready = true;
        continue;
      }
      Child& c = *children_[owners[f].first];
      switch (owners[f].second) {
        case kOut:
        case kErr: {
          int* fd = owners[f].second == kOut ? &c.out : &c.err;
          ssize_t r = read(*fd, buffer_.data(), buffer_.size());
          if (r < 0 && (errno == EINTR || errno == EAGAIN)) break;
          if (r <= 0) {
            CloseFd(fd);
            break;
          }
          size_t got = static_cast<size_t>(r);
          if (owners[f].second == kOut) {
            std::string& text = c.outcome.stdout_text;
            size_t room = c.max_stdout - std::min(c.max_stdout, text.size());
            text.append(buffer_.data(), std::min(room, got));
            if (got > room) c.outcome.stdout_truncated = true;
          } else {
            std::string& text = c.outcome.stderr_text;
            text.append(buffer_.data(), got);
            // Trimmed in steps of a tail's size, not on every read.
            if (text.size() > 2 * c.stderr_tail) text.erase(0, text.size() - c.stderr_tail);
          }
          break;
        }
        case kIn: {
          ssize_t w = write(c.in, c.stdin_text.data() + c.stdin_written, c.stdin_text.size() - c.stdin_written);
          if (w > 0) c.stdin_written += static_cast<size_t>(w);
          // EPIPE: the program closed its stdin; what it did not read is dropped.
          if ((w < 0 && errno != EAGAIN && errno != EINTR) || c.stdin_written == c.stdin_text.size()) {
            CloseFd(&c.in);
            c.stdin_text.clear();
          }
          break;
        }
        case kPidfd:
          break;  // looked at below
      }
    }
  }

  // Exits, kill deadlines and finished children.
  now = Now();
  std::vector<std::pair<Done, ProcessOutcome>> finished;
  for (size_t k = 0; k < children_.size();) {
    Child& c = *children_[k];
    if (!c.reported) {
      if (c.outcome.cancelled) {
        c.CheckExit(/*reap=*/false);  // the zombie keeps its process group id until kill_at
        if (c.exited) {
          c.reported = true;
          CloseFd(&c.out);
          CloseFd(&c.err);
          CloseFd(&c.in);
          finished.emplace_back(std::move(c.done), c.TakeOutcome());
        }
      } else if (!c.pipes_open()) {
        c.CheckExit(/*reap=*/true);
        if (c.reaped) {
          c.reported = true;
          CloseFd(&c.in);
          finished.emplace_back(std::move(c.done), c.TakeOutcome());
        } else {
          c.WatchExit();  // output is over but the program is not: wake when it exits
        }
      }
    }
    if (c.kill_at > 0 && now >= c.kill_at) {
      kill(-c.pid, SIGKILL);
      c.kill_at = 0;
      if (c.reported) c.CheckExit(/*reap=*/true);  // a zombie already: reaped at once
    }
    if (c.reported && c.kill_at == 0 && !c.reaped) c.CheckExit(/*reap=*/true);
    if (c.reported && c.reaped) {
      c.CloseAll();
      children_[k] = std::move(children_.back());
      children_.pop_back();
      continue;
    }
    ++k;
  }
  // Last: a callback may Start or Cancel other children.
  for (auto& [done, outcome] : finished)
    if (done) done(std::move(outcome));
  return extra_ready;
}

}  // namespace comfyrun
