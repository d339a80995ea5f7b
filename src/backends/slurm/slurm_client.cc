// SlurmClient: runs the Slurm tools as subprocesses and parses what they print.
#include "comfyrun/backends/slurm/slurm_client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "comfyrun/core/util.h"

extern char** environ;

namespace comfyrun {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    parts.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

/// The first line of a tool's complaint, for messages.
std::string FirstLine(const std::string& text) {
  std::string t = Trim(text);
  size_t nl = t.find('\n');
  return Abbreviate(nl == std::string::npos ? t : t.substr(0, nl), 300);
}

// squeue's output format: one job a line, fields that cannot contain '|' in names we submit.
constexpr const char* kSqueueFormat = "%i|%j|%T|%r|%N";

}  // namespace

SlurmStateMeaning InterpretSlurmState(const std::string& state) {
  SlurmStateMeaning m;
  // squeue may print "CANCELLED by 0"; scontrol's JobState has no suffix.
  std::string s = state.substr(0, state.find(' '));
  if (s == "COMPLETED") {
    m.terminal = m.succeeded = true;
  } else if (s == "FAILED" || s == "CANCELLED" || s == "DEADLINE" || s == "SPECIAL_EXIT") {
    m.terminal = true;
    m.error = s == "CANCELLED" ? ErrorType::kCancelled : ErrorType::kExecution;
  } else if (s == "TIMEOUT") {
    m.terminal = true;
    m.error = ErrorType::kTimeout;
  } else if (s == "OUT_OF_MEMORY") {
    m.terminal = true;
    m.error = ErrorType::kExecution;
  } else if (s == "PREEMPTED" || s == "NODE_FAIL" || s == "BOOT_FAIL") {
    // The job did not fail on its own: the cluster took its node away. Another try may work.
    m.terminal = true;
    m.error = ErrorType::kUnavailable;
    m.retryable = true;
  }
  // PENDING, CONFIGURING, RUNNING, COMPLETING, SUSPENDED, REQUEUED, RESIZING...: not over.
  return m;
}

std::vector<SlurmJobInfo> ParseSqueueLines(const std::string& text) {
  std::vector<SlurmJobInfo> jobs;
  for (const std::string& line : Split(text, '\n')) {
    if (Trim(line).empty()) continue;
    std::vector<std::string> f = Split(line, '|');
    if (f.size() < 3) continue;
    SlurmJobInfo j;
    j.id = Trim(f[0]);
    j.name = f[1];
    j.state = Trim(f[2]);
    if (f.size() > 3) j.reason = Trim(f[3]);
    if (f.size() > 4) j.nodes = Trim(f[4]);
    if (j.nodes == "(null)") j.nodes.clear();
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::vector<SlurmJobInfo> ParseSacctLines(const std::string& text) {
  std::vector<SlurmJobInfo> jobs;
  std::map<std::string, size_t> index;  // id -> its entry: a later line of the same id wins
  for (const std::string& line : Split(text, '\n')) {
    if (Trim(line).empty()) continue;
    std::vector<std::string> f = Split(line, '|');
    if (f.size() < 3) continue;
    SlurmJobInfo j;
    j.id = Trim(f[0]);
    j.name = f[1];
    j.state = Trim(f[2]);
    if (f.size() > 3) j.exit_code = Trim(f[3]);
    if (f.size() > 4) j.nodes = Trim(f[4]);
    if (j.nodes == "None assigned" || j.nodes == "(null)") j.nodes.clear();
    if (j.id.empty()) continue;
    auto [it, is_new] = index.try_emplace(j.id, jobs.size());
    if (is_new)
      jobs.push_back(std::move(j));
    else
      jobs[it->second] = std::move(j);
  }
  return jobs;
}

bool AccountingConfigured(const std::string& scontrol_show_config) {
  for (const std::string& line : Split(scontrol_show_config, '\n')) {
    size_t eq = line.find('=');
    if (eq == std::string::npos || Trim(line.substr(0, eq)) != "AccountingStorageType") continue;
    std::string value = Trim(line.substr(eq + 1));
    return !value.empty() && value != "none" && value != "(null)" && value.find("/none") == std::string::npos;
  }
  return false;
}

SlurmClient::SlurmClient(SlurmClientOptions options) : options_(std::move(options)) {}

int SlurmClient::Run(const std::string& tool, const std::vector<std::string>& args, std::string* out,
                     std::string* err) const {
  std::string program = options_.bin_dir.empty() ? tool : options_.bin_dir + "/" + tool;
  std::vector<std::string> argv_s = {program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int o[2];
  int e[2];
  if (pipe2(o, O_CLOEXEC) != 0) {
    *err = fmt::format("cannot run {}: {}", tool, strerror(errno));
    return -1;
  }
  if (pipe2(e, O_CLOEXEC) != 0) {
    *err = fmt::format("cannot run {}: {}", tool, strerror(errno));
    close(o[0]);
    close(o[1]);
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, o[1], 1);
  posix_spawn_file_actions_adddup2(&actions, e[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a Ctrl-C at the terminal is ours to handle, and must not kill an
  // sbatch half-way (the job might be submitted without us learning its id).
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(o[1]);
  close(e[1]);
  if (rc != 0) {
    close(o[0]);
    close(e[0]);
    *err = fmt::format("cannot run {}: {}{}", tool, strerror(rc),
                       rc == ENOENT ? " (is Slurm's client installed and in PATH?)" : "");
    return -1;
  }
  std::string stdout_text;
  std::string stderr_text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.command_timeout);
  pollfd fds[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  char buf[8192];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || fds[k].revents == 0) continue;
      ssize_t got = read(fds[k].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
        continue;
      }
      (k == 0 ? stdout_text : stderr_text).append(buf, static_cast<size_t>(got));
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out) *out = std::move(stdout_text);
  if (timed_out) {
    *err = fmt::format("{} did not answer within {}", tool, FormatDuration(options_.command_timeout));
    return -1;
  }
  if (WIFSIGNALED(status)) {
    *err = fmt::format("{} was killed by signal {}", tool, WTERMSIG(status));
    return -1;
  }
  int code = WEXITSTATUS(status);
  if (code != 0) *err = fmt::format("{} exited with code {}: {}", tool, code, FirstLine(stderr_text));
  return code;
}

bool SlurmClient::Submit(const std::vector<std::string>& args, const std::string& script, std::string* job_id,
                         std::string* err) const {
  std::vector<std::string> a = {"--parsable"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back(script);
  std::string out;
  if (Run("sbatch", a, &out, err) != 0) return false;
  // --parsable prints "ID" or "ID;CLUSTER".
  std::string id = Trim(out.substr(0, out.find(';')));
  if (id.empty() || id.find_first_not_of("0123456789_") != std::string::npos) {
    *err = fmt::format("sbatch printed no job id: {}", Abbreviate(Trim(out), 200));
    return false;
  }
  *job_id = id;
  return true;
}

bool SlurmClient::QueryAll(std::map<std::string, SlurmJobInfo>* jobs, std::string* err) const {
  std::string out;
  if (Run("squeue", {"--noheader", "--states=all", "--user", std::to_string(getuid()), "--format", kSqueueFormat}, &out,
          err) != 0)
    return false;
  jobs->clear();
  for (auto& j : ParseSqueueLines(out)) (*jobs)[j.id] = std::move(j);
  return true;
}

bool SlurmClient::FindByName(const std::string& name, std::vector<SlurmJobInfo>* jobs, std::string* err) const {
  std::string out;
  if (Run("squeue",
          {"--noheader", "--states=all", "--user", std::to_string(getuid()), "--name", name, "--format", kSqueueFormat},
          &out, err) != 0)
    return false;
  *jobs = ParseSqueueLines(out);
  std::vector<SlurmJobInfo> exact;
  for (auto& j : *jobs)
    if (j.name == name) exact.push_back(std::move(j));
  *jobs = std::move(exact);
  return true;
}

bool SlurmClient::HasAccounting(bool* yes, std::string* err) const {
  if (accounting_ < 0) {
    std::string out;
    if (Run("scontrol", {"show", "config"}, &out, err) != 0) return false;
    accounting_ = AccountingConfigured(out) ? 1 : 0;
  }
  *yes = accounting_ == 1;
  return true;
}

namespace {
// sacct's fields, in the order ParseSacctLines reads them; a week back (sacct's own default
// start is midnight today, which would miss a job of a run resumed the next day).
const std::vector<std::string> kSacctArgs = {
    "-X",          "--parsable2", "--noheader", "--format", "JobIDRaw,JobName,State,ExitCode,NodeList",
    "--starttime", "now-7days"};
}  // namespace

bool SlurmClient::FromAccounting(const std::vector<std::string>& ids, std::map<std::string, SlurmJobInfo>* jobs,
                                 std::string* err) const {
  jobs->clear();
  if (ids.empty()) return true;
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  std::vector<std::string> args = kSacctArgs;
  args.insert(args.end(), {"--jobs", list});
  std::string out;
  if (Run("sacct", args, &out, err) != 0) return false;
  for (auto& j : ParseSacctLines(out)) {
    std::string id = j.id;
    (*jobs)[id] = std::move(j);
  }
  return true;
}

bool SlurmClient::FindByNameInAccounting(const std::string& name, std::vector<SlurmJobInfo>* jobs,
                                         std::string* err) const {
  std::vector<std::string> args = kSacctArgs;
  args.insert(args.end(), {"--name", name});
  std::string out;
  if (Run("sacct", args, &out, err) != 0) return false;
  jobs->clear();
  for (auto& j : ParseSacctLines(out))
    if (j.name == name) jobs->push_back(std::move(j));
  return true;
}

bool SlurmClient::Cancel(const std::string& id, std::string* err) const {
  std::string out;
  return Run("scancel", {id}, &out, err) == 0;
}

bool SlurmClient::Info(std::string* text, std::string* err) const {
  return Run("sinfo", {"--noheader", "--format", "%P %a %D %T"}, text, err) == 0;
}

}  // namespace comfyrun
