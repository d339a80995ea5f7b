// Writing a Slurm job's script and reading back what it left (slurm_job_files.h).
#include "slurm_job_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "comfyrun/core/util.h"

namespace comfyrun::slurm {
namespace {

std::string Sanitize(std::string_view s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

}  // namespace

std::string MakeJobName(const NodeContext& ctx) {
  return fmt::format("cr-{}-{}-a{}-{}", Sanitize(ctx.run_id, 40), Sanitize(ctx.node_id, 80), ctx.attempt, RandomHex(6));
}

JobFiles FilesFor(const std::string& node_dir, const std::string& job_name) {
  JobFiles f;
  f.dir = node_dir + "/slurm";
  std::string base = f.dir + "/" + job_name;
  f.script = base + ".sh";
  f.stdin_path = base + ".stdin";
  f.stdout_path = base + ".stdout";
  f.exit_path = base + ".exit";
  f.claim = base + ".claim";
  f.log_pattern = f.dir + "/job-%j.log";
  return f;
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool WriteJobFiles(const ProcessSpec& spec, const NodeContext& ctx, const std::string& job_name, const JobFiles& files,
                   std::string* err) {
  if (!MakeDirs(files.dir, err)) return false;
  std::string cwd = spec.cwd.empty() ? ctx.node_dir : spec.cwd;
  std::string s;
  s += "#!/bin/sh\n";
  s += fmt::format("# comfyrun job {}: node {}, attempt {}, run {}. Written by comfyrun, run by Slurm.\n", job_name,
                   ctx.node_id, ctx.attempt, ctx.run_id);
  s += fmt::format("d={}\n", ShellQuote(files.dir));
  // The node folder must be visible here: the run folder is on a shared filesystem, or
  // nothing the job writes reaches comfyrun.
  s += fmt::format("nd={}\n", ShellQuote(ctx.node_dir));
  s += fmt::format(
      "if ! cd {} 2>/dev/null || [ ! -d \"$d\" ]; then\n"
      "  echo \"comfyrun: $(hostname) cannot see the node folder $nd: the run folder must be on a filesystem "
      "shared by this machine and the cluster's nodes\" >&2\n"
      "  exit {}\nfi\n",
      ShellQuote(cwd), kFolderNotVisibleExit);
  // The claim: exactly one job of this name runs the program. A second one exists only when
  // an sbatch of a comfyrun that was killed landed after resume had submitted again; it waits
  // for the first one's exit code and reports the same result.
  s += fmt::format(
      "if ! mkdir {} 2>/dev/null; then\n"
      "  echo \"comfyrun: another Slurm job already ran this attempt; waiting for its result\" >&2\n"
      "  while [ ! -e {} ]; do sleep 2; done\n"
      "  exit \"$(cat {})\"\nfi\n",
      ShellQuote(files.claim), ShellQuote(files.exit_path), ShellQuote(files.exit_path));
  for (const std::string& e : spec.env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    s += fmt::format("export {}={}\n", e.substr(0, eq), ShellQuote(e.substr(eq + 1)));
  }
  std::string argv;
  for (const std::string& a : spec.argv) argv += (argv.empty() ? "" : " ") + ShellQuote(a);
  s += fmt::format("{} < {} > {}\n", argv, ShellQuote(files.stdin_path), ShellQuote(files.stdout_path));
  s += "code=$?\n";
  s += fmt::format("echo \"$code\" > {}.tmp && mv {}.tmp {}\n", ShellQuote(files.exit_path),
                   ShellQuote(files.exit_path), ShellQuote(files.exit_path));
  s += "exit \"$code\"\n";
  if (!WriteFileAtomic(files.stdin_path, spec.stdin_text, err)) return false;
  if (!WriteFileAtomic(files.script, s, err)) return false;
  if (chmod(files.script.c_str(), 0755) != 0) {
    *err = fmt::format("cannot make {} executable: {}", files.script, strerror(errno));
    return false;
  }
  return true;
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st {};
  std::string out;
  if (fstat(fd, &st) == 0) {
    off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - static_cast<off_t>(max_bytes) : 0;
    out.resize(static_cast<size_t>(st.st_size - start));
    ssize_t got = pread(fd, out.data(), out.size(), start);
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  close(fd);
  return out;
}

std::string ReadHead(const std::string& path, size_t max_bytes, bool* truncated) {
  *truncated = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    size_t room = max_bytes - out.size();
    if (static_cast<size_t>(got) > room) {
      out.append(buf, room);
      *truncated = true;
      break;
    }
    out.append(buf, static_cast<size_t>(got));
  }
  close(fd);
  return out;
}

std::string LastLines(std::string_view text, int n) {
  std::string t = Trim(text);
  size_t pos = t.size();
  int lines = 0;
  while (pos > 0 && lines < n) {
    size_t nl = t.rfind('\n', pos - 1);
    ++lines;
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  std::string tail = t.substr(pos == 0 ? 0 : pos + 1);
  return Abbreviate(tail, 2000);
}

std::optional<int> ReadExitCode(const std::string& path) {
  std::string text;
  std::string err;
  if (!ReadFile(path, &text, &err)) return std::nullopt;
  text = Trim(text);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 4) return std::nullopt;
  return std::stoi(text);
}

}  // namespace comfyrun::slurm
