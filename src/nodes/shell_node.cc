// shell: runs a program from an argv list (or /bin/sh -c with "shell": true), captures its
// output, and turns a JSON object on stdout into outputs.
//
// Implementation details: a process-mode kind (node_kind.h). It only says what to run and
// reads how it ended; the executor's ProcessRunner (backends/process_runner.h) starts the
// program in a new process group, feeds its stdin, reads its output, and kills the group on
// a timeout or Ctrl-C, all from the executor thread, so a running program holds no thread.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "comfyrun/core/util.h"
#include "comfyrun/nodes/builtin_nodes.h"

namespace comfyrun {
namespace {

class ShellNode : public NodeKind {
 public:
  Mode mode() const override { return Mode::kProcess; }

  bool DescribeProcess(const NodeContext& ctx, ProcessSpec* spec, NodeResult* failure) override {
    const Json& in = ctx.inputs;
    spec->argv = Argv(in);
    if (spec->argv.empty()) {
      *failure = NodeResult::Failure(ErrorType::kInvalidInput, "no program to run (argv is empty)");
      return false;
    }
    spec->cwd = in.contains("cwd") && in["cwd"].is_string() ? in["cwd"].get<std::string>() : ctx.node_dir;
    if (in.contains("env") && in["env"].is_object())
      for (auto it = in["env"].begin(); it != in["env"].end(); ++it)
        spec->env.push_back(it.key() + "=" +
                            (it.value().is_string() ? it.value().get<std::string>() : it.value().dump()));
    if (in.contains("stdin") && in["stdin"].is_string()) spec->stdin_text = in["stdin"].get<std::string>();
    return true;
  }

  NodeResult FinishProcess(const NodeContext& ctx, ProcessOutcome o) override {
    const Json& in = ctx.inputs;
    std::vector<std::string> argv = Argv(in);
    std::string program = Quote(argv.empty() ? std::string() : argv[0]);
    if (o.spawn_error != 0)
      return NodeResult::Failure(o.spawn_error == ENOENT ? ErrorType::kInvalidInput : ErrorType::kExecution,
                                 fmt::format("cannot run {}: {}", program, strerror(o.spawn_error)));
    if (o.cancelled) return NodeResult::Failure(ErrorType::kCancelled, fmt::format("{} was stopped", program));
    if (o.term_signal != 0)
      return NodeResult::Failure(ErrorType::kExecution, fmt::format("{} was killed by signal {}{}", program,
                                                                    o.term_signal, LastLine(o.stderr_text)));
    int code = o.exit_code;
    Json ok_codes = in.contains("okExitCodes") && in["okExitCodes"].is_array() ? in["okExitCodes"] : Json::array({0});
    bool ok = false;
    for (const auto& c : ok_codes) ok = ok || (c.is_number_integer() && c.get<int>() == code);
    if (!ok) {
      NodeResult r = NodeResult::Failure(
          ErrorType::kExecution, fmt::format("{} exited with code {}{}", program, code, LastLine(o.stderr_text)));
      r.details = {{"exitCode", code}};
      return r;
    }
    Json outputs = Json::object();
    Json parsed = Json::parse(o.stdout_text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object())
      for (auto it = parsed.begin(); it != parsed.end(); ++it) outputs[it.key()] = it.value();
    outputs["stdout"] = o.stdout_text;
    outputs["stderr"] = o.stderr_text;
    outputs["exitCode"] = code;
    if (o.stdout_truncated) outputs["stdoutTruncated"] = true;
    // Invalid UTF-8 from a program must not break the journal's JSON.
    try {
      (void)outputs.dump();
    } catch (const std::exception&) {
      outputs["stdout"] = Json::parse(Json(o.stdout_text).dump(-1, ' ', false, Json::error_handler_t::replace));
      outputs["stderr"] = Json::parse(Json(o.stderr_text).dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    return NodeResult::Success(std::move(outputs));
  }

 private:
  static std::vector<std::string> Argv(const Json& in) {
    std::vector<std::string> argv;
    if (in.value("shell", false) && in.contains("command") && in["command"].is_string()) {
      argv = {"/bin/sh", "-c", in["command"].get<std::string>()};
    } else if (in.contains("argv") && in["argv"].is_array()) {
      for (const auto& a : in["argv"]) argv.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    }
    return argv;
  }
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
