#pragma once
// How a command joins the command line. Each command (or family) has one function,
// `void AddXxxCommand(CommandRegistry&)`, in a src/cli/cli_*.cc or cmd_*.cc file, which
// declares its options, its manual text and the function that runs it; cli.cc lists those
// functions once (kCommands), in the order --help shows them. The CLI11 app built from them
// is the single source of --help, the man page (man_page.h) and shell completion
// (export/completion.h). Internal to the CLI: CLI11 is used only in src/cli.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "man_page.h"

namespace comfyrun {

class CommandRegistry {
 public:
  CommandRegistry(CLI::App* app, ManFormatter* man) : app_(app), man_(man) {}

  /// Adds a command below `parent` (null: the top level); `run`, when given, is called with
  /// nothing but the options it captured if this command is the one chosen.
  CLI::App* Add(const std::string& name, const std::string& description, std::function<int()> run,
                CLI::App* parent = nullptr) {
    CLI::App* cmd = (parent ? parent : app_)->add_subcommand(name, description);
    if (run) actions_.emplace_back(cmd, std::move(run));
    return cmd;
  }
  /// Sets the function run when `cmd` is the command chosen (when Add could not yet name it).
  void OnChosen(CLI::App* cmd, std::function<int()> run) { actions_.emplace_back(cmd, std::move(run)); }
  /// Storage for a command's parsed options, alive as long as the command line.
  template <typename T>
  std::shared_ptr<T> Options() {
    auto options = std::make_shared<T>();
    kept_.push_back(options);
    return options;
  }
  /// The manual of a command (what `--help` prints beyond each option's own line).
  void Manual(const CLI::App* cmd, ManPage page) { man_->Set(cmd, std::move(page)); }
  CLI::App& app() { return *app_; }

  /// After parsing: runs the chosen command's function; -1 when none was chosen.
  int RunChosen() const {
    for (const auto& [cmd, run] : actions_)
      if (cmd->parsed()) return run();
    return -1;
  }

  // Exit-status lines that several manuals share.
  static std::pair<std::string, std::string> ExitBadInput() {
    return {"2", "bad command line or invalid input: nothing was run or spent"};
  }
  static std::pair<std::string, std::string> ExitInterrupted() {
    return {"130", "interrupted by SIGINT or SIGTERM: the journal is consistent and `comfyrun resume` continues"};
  }

 private:
  CLI::App* app_;
  ManFormatter* man_;
  std::vector<std::pair<CLI::App*, std::function<int()>>> actions_;
  std::vector<std::shared_ptr<void>> kept_;
};

/// The check of a path option (--out, --journal, -o, --html): an empty value, or one of only
/// white space, is refused (it would name the filesystem's root: "" + "/runs").
inline CLI::Validator NonEmptyPath() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.find_first_not_of(" \t\r\n\v\f") != std::string::npos) return "";
        return "an empty path names no file or directory";
      },
      "");
}

struct CliSpec;  // export/completion.h
/// The command line as the completion scripts see it, read from the app itself (cli.cc).
CliSpec DescribeApp(const CLI::App& app);

}  // namespace comfyrun
