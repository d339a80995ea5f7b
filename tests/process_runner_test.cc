// ProcessRunner: many programs from one thread; output, stdin, exit status, spawn errors, and
// cancelling a whole process group.
#include "comfyrun/backends/process_runner.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>

using namespace comfyrun;

namespace {

/// Writing stdin to a program that exits without reading it must fail with EPIPE, not kill
/// the test binary (comfyrun ignores SIGPIPE in main).
struct IgnoreSigpipe {
  IgnoreSigpipe() { signal(SIGPIPE, SIG_IGN); }
};

/// Waits (bounded) until `done()` holds, calling runner.Wait in between.
template <typename Pred>
bool WaitUntil(ProcessRunner& runner, Pred done, double limit_seconds = 20) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    runner.Wait(0.05);
  }
  return true;
}

/// Runs one program to its end.
ProcessOutcome RunOne(const ProcessSpec& spec) {
  IgnoreSigpipe ignore;
  ProcessRunner runner;
  std::optional<ProcessOutcome> got;
  int spawn_error = 0;
  ProcessRunner::Id id = runner.Start(
      spec, [&](ProcessOutcome o) { got = std::move(o); }, &spawn_error);
  if (id == 0) {
    ProcessOutcome o;
    o.spawn_error = spawn_error;
    return o;
  }
  REQUIRE(WaitUntil(runner, [&] { return got.has_value(); }));
  return *got;
}

ProcessSpec Sh(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  return spec;
}

/// True once `pid` is gone or a zombie (its parent is gone too, so init reaps it later).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

pid_t ParentOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  char state = 0;
  int ppid = 0;
  if (paren == std::string::npos || sscanf(line.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return 0;
  return ppid;
}

/// The pid of a `sleep <seconds>` whose parent (generation 1) or grandparent (2) we are, or 0.
pid_t FindSleep(const std::string& seconds, int generation) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmd(e.path() / "cmdline");
    std::string program, arg;
    std::getline(cmd, program, '\0');
    std::getline(cmd, arg, '\0');
    if (program != "sleep" || arg != seconds) continue;
    pid_t pid = std::atoi(e.path().filename().c_str());
    pid_t up = pid;
    for (int g = 0; g < generation && up > 0; ++g) up = ParentOf(up);
    if (up == getpid()) return pid;
  }
  return 0;
}

bool WaitDead(pid_t pid) {
  for (int i = 0; i < 400 && !Dead(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  return Dead(pid);
}

}  // namespace

TEST_SUITE("ProcessRunner") {
  TEST_CASE("captures stdout, stderr and the exit code" * doctest::timeout(30)) {
    ProcessOutcome o = RunOne(Sh("echo out; echo err >&2; exit 3"));
    CHECK(o.spawn_error == 0);
    CHECK_FALSE(o.cancelled);
    CHECK(o.stdout_text == "out\n");
    CHECK(o.stderr_text == "err\n");
    CHECK(o.exit_code == 3);
    CHECK(o.term_signal == 0);
  }

  TEST_CASE("a program killed by a signal reports the signal" * doctest::timeout(30)) {
    ProcessOutcome o = RunOne(Sh("kill -KILL $$"));
    CHECK(o.term_signal == SIGKILL);
    CHECK(o.exit_code == -1);
  }

  TEST_CASE("stdin larger than a pipe buffer is written without blocking the loop" * doctest::timeout(30)) {
    ProcessSpec spec;
    spec.argv = {"cat"};
    for (int i = 0; i < 20000; ++i) spec.stdin_text += "line " + std::to_string(i) + "\n";  // ~200 KB
    ProcessOutcome o = RunOne(spec);
    CHECK(o.exit_code == 0);
    CHECK(o.stdout_text == spec.stdin_text);

    // A program that never reads its stdin still ends, and so does the write.
    spec.argv = {"true"};
    o = RunOne(spec);
    CHECK(o.exit_code == 0);
  }

  TEST_CASE("no stdin: the program reads end-of-file at once" * doctest::timeout(30)) {
    ProcessSpec spec;
    spec.argv = {"cat"};
    ProcessOutcome o = RunOne(spec);
    CHECK(o.exit_code == 0);
    CHECK(o.stdout_text.empty());
  }

  TEST_CASE("env entries replace ours; cwd is where it runs" * doctest::timeout(30)) {
    std::filesystem::create_directories("runner-cwd");
    ProcessSpec spec = Sh("echo \"$COMFYRUN_RUNNER_TEST\"; pwd");
    setenv("COMFYRUN_RUNNER_TEST", "ours", 1);
    spec.env = {"COMFYRUN_RUNNER_TEST=theirs"};
    spec.cwd = std::filesystem::absolute("runner-cwd").string();
    ProcessOutcome o = RunOne(spec);
    unsetenv("COMFYRUN_RUNNER_TEST");
    CHECK(o.stdout_text == "theirs\n" + std::filesystem::canonical("runner-cwd").string() + "\n");
  }

  TEST_CASE("a program that is not found, or a cwd that does not exist, cannot start" * doctest::timeout(30)) {
    ProcessSpec spec;
    spec.argv = {"comfyrun-no-such-program-xyz"};
    CHECK(RunOne(spec).spawn_error == ENOENT);
    spec.argv = {"/nonexistent/dir/program"};
    CHECK(RunOne(spec).spawn_error == ENOENT);
    spec.argv = {"true"};
    spec.cwd = "/nonexistent/dir";
    CHECK(RunOne(spec).spawn_error != 0);
  }

  TEST_CASE("stdout is capped; only the tail of stderr is kept" * doctest::timeout(30)) {
    ProcessSpec spec = Sh("head -c 300000 /dev/zero; head -c 5000 /dev/zero >&2; printf END >&2");
    spec.max_stdout = 1000;
    spec.stderr_tail = 100;
    ProcessOutcome o = RunOne(spec);
    CHECK(o.exit_code == 0);
    CHECK(o.stdout_text.size() == 1000);
    CHECK(o.stdout_truncated);
    CHECK(o.stderr_text.size() == 100);
    CHECK(o.stderr_text.substr(97) == "END");
  }

  TEST_CASE("cancel kills the whole process group, a grandchild included" * doctest::timeout(60)) {
    IgnoreSigpipe ignore;
    ProcessRunner runner;
    std::optional<ProcessOutcome> got;
    int spawn_error = 0;
    // The shell starts a grandchild in its group and waits for it.
    ProcessRunner::Id id = runner.Start(
        Sh("sleep 301 & wait"), [&](ProcessOutcome o) { got = std::move(o); }, &spawn_error);
    REQUIRE(id != 0);
    // Its output is read as it comes but handed over at the end: find the grandchild in /proc.
    pid_t grandchild = 0;
    REQUIRE(WaitUntil(runner, [&] { return (grandchild = FindSleep("301", 2)) != 0; }));
    runner.Cancel(id);
    REQUIRE(WaitUntil(runner, [&] { return got.has_value(); }));
    CHECK(got->cancelled);
    CHECK(WaitDead(grandchild));
    runner.Cancel(id);  // finished: nothing happens
  }

  TEST_CASE("a program that ignores SIGTERM gets SIGKILL after the grace period" * doctest::timeout(60)) {
    IgnoreSigpipe ignore;
    ProcessRunner runner;
    std::optional<ProcessOutcome> got;
    int spawn_error = 0;
    ProcessRunner::Id id = runner.Start(
        Sh("trap '' TERM; echo ready; while :; do sleep 1; done"), [&](ProcessOutcome o) { got = std::move(o); },
        &spawn_error);
    REQUIRE(id != 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the trap be set
    runner.Cancel(id);
    REQUIRE(WaitUntil(runner, [&] { return got.has_value(); }));
    CHECK(got->cancelled);
    CHECK(got->term_signal == SIGKILL);
  }

  TEST_CASE("200 programs at once from one thread" * doctest::timeout(120)) {
    IgnoreSigpipe ignore;
    ProcessRunner runner;
    std::map<int, ProcessOutcome> got;
    constexpr int kCount = 200;
    for (int i = 0; i < kCount; ++i) {
      ProcessSpec spec;
      spec.argv = {"echo", std::to_string(i)};
      int spawn_error = 0;
      REQUIRE(runner.Start(
                  spec, [&got, i](ProcessOutcome o) { got[i] = std::move(o); }, &spawn_error) != 0);
    }
    CHECK(runner.running() == kCount - got.size());
    REQUIRE(WaitUntil(
        runner, [&] { return got.size() == kCount; }, 100));
    CHECK(runner.running() == 0);
    for (int i = 0; i < kCount; ++i) CHECK(got[i].stdout_text == std::to_string(i) + "\n");
  }

  TEST_CASE("Wait wakes up for the extra fd" * doctest::timeout(30)) {
    ProcessRunner runner;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    REQUIRE(fd >= 0);
    CHECK_FALSE(runner.Wait(0, fd));
    uint64_t one = 1;
    REQUIRE(write(fd, &one, sizeof one) == sizeof one);
    CHECK(runner.Wait(20, fd));
    close(fd);
  }

  TEST_CASE("destroying the runner kills what is still running" * doctest::timeout(30)) {
    pid_t pid = 0;
    {
      ProcessRunner runner;
      int spawn_error = 0;
      REQUIRE(runner.Start(
                  Sh("exec sleep 302"), [](ProcessOutcome) {}, &spawn_error) != 0);
      REQUIRE(WaitUntil(runner, [&] { return (pid = FindSleep("302", 1)) != 0; }));
    }
    CHECK(kill(pid, 0) == -1);  // killed and reaped
  }
}
