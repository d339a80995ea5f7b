// shell: runs a program from an argv list (or /bin/sh -c with "shell": true), captures its
// output, and turns a JSON object on stdout into outputs.
//
// Implementation details: posix_spawn into a new process group, so that a timeout or Ctrl-C
// can stop the program and everything it started; stdout and stderr are read with poll()
// on the worker thread, which also watches the cancel flag.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "comfyrun/nodes/builtin_nodes.h"
#include "comfyrun/util.h"

extern char** environ;

namespace comfyrun {
namespace {

constexpr size_t kMaxStdout = 16 << 20;
constexpr size_t kStderrTail = 64 << 10;

struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  bool Open() { return pipe2(fd, O_CLOEXEC) == 0; }
  void CloseEnd(int i) {
    if (fd[i] >= 0) close(fd[i]);
    fd[i] = -1;
  }
};

/// Builds the child's environment: ours plus the node's `env` input.
std::vector<std::string> ChildEnvironment(const Json& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    if (extra.is_object() && extra.contains(name)) continue;
    env.push_back(entry);
  }
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it)
      env.push_back(it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump()));
  return env;
}

/// posix_spawnp's PATH search, remembered per program name like a shell's hash table:
/// spawnp tries execve in each PATH folder before the one that has the program (9 failed
/// execs for every `true` here). A remembered path that stops working is forgotten and the
/// spawn falls back to posix_spawnp.
class ProgramPaths {
 public:
  std::string Find(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    std::string key = Key(name);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = found_.find(key);
      if (it != found_.end()) return it->second;
    }
    std::string path = key.substr(0, key.find('\0'));
    if (path.empty()) path = "/bin:/usr/bin";
    for (size_t start = 0; start <= path.size();) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
      struct stat sb {};
      if (stat(candidate.c_str(), &sb) == 0 && S_ISREG(sb.st_mode) && access(candidate.c_str(), X_OK) == 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        found_[key] = candidate;
        return candidate;
      }
      start = end + 1;
    }
    return "";  // not found: posix_spawnp searches and reports it
  }
  void Forget(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    found_.erase(Key(name));
  }

 private:
  static std::string Key(const std::string& name) {
    const char* path_env = getenv("PATH");
    return (path_env ? path_env : "") + std::string(1, '\0') + name;
  }
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> found_;
};

ProgramPaths& Programs() {
  static ProgramPaths paths;
  return paths;
}

void KillGroup(pid_t pid) {
  kill(-pid, SIGTERM);
  for (int i = 0; i < 20; ++i) {  // up to 2 s to exit on its own
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

class ShellNode : public NodeKind {
 public:
  Mode mode() const override { return Mode::kBlocking; }

  NodeResult Run(NodeContext& ctx) override {
    const Json& in = ctx.inputs;
    std::vector<std::string> argv;
    if (in.value("shell", false) && in.contains("command")) {
      argv = {"/bin/sh", "-c", in["command"].get<std::string>()};
    } else if (in.contains("argv") && in["argv"].is_array()) {
      for (const auto& a : in["argv"]) argv.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    }
    if (argv.empty()) return NodeResult::Failure(ErrorType::kInvalidInput, "no program to run (argv is empty)");
    std::string cwd = in.contains("cwd") && in["cwd"].is_string() ? in["cwd"].get<std::string>() : ctx.node_dir;

    Pipe out, err, input;
    if (!out.Open() || !err.Open() || !input.Open())
      return NodeResult::Failure(ErrorType::kInternal, fmt::format("pipe: {}", strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input.fd[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
    posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);  // comfyrun ignores it (main.cc); the program gets the default
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> env_strings = ChildEnvironment(in.contains("env") ? in["env"] : Json());
    std::vector<char*> envp, args;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = 0;
    std::string program = Programs().Find(argv[0]);
    int rc = program.empty() ? ENOENT : posix_spawn(&pid, program.c_str(), &actions, &attr, args.data(), envp.data());
    if (rc != 0) {
      if (!program.empty() && program != argv[0]) Programs().Forget(argv[0]);
      if (program != argv[0]) rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      return NodeResult::Failure(rc == ENOENT ? ErrorType::kInvalidInput : ErrorType::kExecution,
                                 fmt::format("cannot run {}: {}", Quote(argv[0]), strerror(rc)));
    input.CloseEnd(0);
    out.CloseEnd(1);
    err.CloseEnd(1);
    std::string stdin_text = in.contains("stdin") && in["stdin"].is_string() ? in["stdin"].get<std::string>() : "";
    if (!stdin_text.empty()) {
      fcntl(input.fd[1], F_SETFL, O_NONBLOCK);
    } else {
      input.CloseEnd(1);
    }

    std::string stdout_text, stderr_text;
    size_t stdin_written = 0;
    bool truncated = false;
    char buffer[65536];
    while (out.fd[0] >= 0 || err.fd[0] >= 0) {
      if (ctx.cancelled()) {
        KillGroup(pid);
        return NodeResult::Failure(ErrorType::kCancelled, fmt::format("{} was stopped", Quote(argv[0])));
      }
      pollfd fds[3];
      int n = 0;
      if (out.fd[0] >= 0) fds[n++] = {out.fd[0], POLLIN, 0};
      if (err.fd[0] >= 0) fds[n++] = {err.fd[0], POLLIN, 0};
      if (input.fd[1] >= 0) fds[n++] = {input.fd[1], POLLOUT, 0};
      if (poll(fds, n, 100) < 0 && errno != EINTR) break;
      for (int k = 0; k < n; ++k) {
        if (!fds[k].revents) continue;
        if (fds[k].fd == input.fd[1]) {
          ssize_t w = write(input.fd[1], stdin_text.data() + stdin_written, stdin_text.size() - stdin_written);
          if (w > 0) stdin_written += static_cast<size_t>(w);
          if (w < 0 && errno != EAGAIN) stdin_written = stdin_text.size();
          if (stdin_written == stdin_text.size()) input.CloseEnd(1);
          continue;
        }
        ssize_t r = read(fds[k].fd, buffer, sizeof buffer);
        bool is_out = fds[k].fd == out.fd[0];
        if (r <= 0) {
          if (r < 0 && errno == EINTR) continue;
          (is_out ? out : err).CloseEnd(0);
          continue;
        }
        if (is_out) {
          if (stdout_text.size() < kMaxStdout) stdout_text.append(buffer, static_cast<size_t>(r));
          else truncated = true;
        } else {
          stderr_text.append(buffer, static_cast<size_t>(r));
          if (stderr_text.size() > 2 * kStderrTail) stderr_text.erase(0, stderr_text.size() - kStderrTail);
        }
      }
    }
    input.CloseEnd(1);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (stderr_text.size() > kStderrTail) stderr_text.erase(0, stderr_text.size() - kStderrTail);
    if (WIFSIGNALED(wstatus))
      return NodeResult::Failure(ErrorType::kExecution,
                                 fmt::format("{} was killed by signal {}{}", Quote(argv[0]), WTERMSIG(wstatus), LastLine(stderr_text)));
    int code = WEXITSTATUS(wstatus);
    Json ok_codes = in.contains("okExitCodes") && in["okExitCodes"].is_array() ? in["okExitCodes"] : Json::array({0});
    bool ok = false;
    for (const auto& c : ok_codes) ok = ok || (c.is_number_integer() && c.get<int>() == code);
    if (!ok) {
      NodeResult r = NodeResult::Failure(ErrorType::kExecution,
                                         fmt::format("{} exited with code {}{}", Quote(argv[0]), code, LastLine(stderr_text)));
      r.details = {{"exitCode", code}};
      return r;
    }
    Json outputs = Json::object();
    Json parsed = Json::parse(stdout_text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object())
      for (auto it = parsed.begin(); it != parsed.end(); ++it) outputs[it.key()] = it.value();
    outputs["stdout"] = stdout_text;
    outputs["stderr"] = stderr_text;
    outputs["exitCode"] = code;
    if (truncated) outputs["stdoutTruncated"] = true;
    // Invalid UTF-8 from a program must not break the journal's JSON.
    try {
      (void)outputs.dump();
    } catch (const std::exception&) {
      outputs["stdout"] = Json::parse(Json(stdout_text).dump(-1, ' ', false, Json::error_handler_t::replace));
      outputs["stderr"] = Json::parse(Json(stderr_text).dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    return NodeResult::Success(std::move(outputs));
  }

 private:
  static std::string LastLine(const std::string& text) {
    std::string t = Trim(text);
    if (t.empty()) return "";
    size_t nl = t.find_last_of('\n');
    std::string line = nl == std::string::npos ? t : t.substr(nl + 1);
    if (line.size() > 300) line = line.substr(0, 300) + "...";
    return ": " + line;
  }
};
}  // namespace

NodeKind* ShellNodeKind() {
  static ShellNode kind;
  return &kind;
}

}  // namespace comfyrun
