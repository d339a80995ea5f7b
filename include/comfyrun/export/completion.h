#pragma once
// Shell completion scripts for bash and zsh, generated from a description of the command
// line. The CLI (cli.cc) builds that description from its CLI11 app, so the scripts list
// exactly the subcommands and options the binary accepts and never drift from it:
// `comfyrun completion bash|zsh` prints them, and completions/ holds copies that a test
// compares with the binary's output.
#include <string>
#include <vector>

namespace comfyrun {

/// What a word after an option (or a positional word) can be.
enum class CompletionValue {
  kNone,       ///< a flag: no value
  kFile,       ///< a path to a file
  kDirectory,  ///< a path to a directory
  kChoice,     ///< one of CliOptionSpec::choices
  kOther,      ///< a value with nothing to offer (a number, a URL, a name)
};

struct CliOptionSpec {
  std::vector<std::string> names;  ///< "-o", "--out" (short names first)
  CompletionValue value = CompletionValue::kNone;
  std::vector<std::string> choices;  ///< for kChoice
  bool repeatable = false;           ///< may be given more than once
  std::string description;
};

struct CliCommandSpec {
  std::string name, description;
  std::vector<CliOptionSpec> options;
  /// How positional words are completed (kNone: the command takes none).
  CompletionValue positional = CompletionValue::kNone;
  std::vector<std::string> positional_choices;
  /// Nested subcommands (`cache ls`): offered where the first positional word goes.
  std::vector<CliCommandSpec> subcommands;
};

struct CliSpec {
  std::string program = "comfyrun";
  std::vector<CliOptionSpec> options;  ///< before the subcommand (--help, --version)
  std::vector<CliCommandSpec> commands;
};

/// A bash script: defines _<program> and registers it with `complete -F`. Needs only bash
/// (not the bash-completion package): source it, or drop it in
/// /usr/share/bash-completion/completions/<program>.
std::string BashCompletion(const CliSpec& spec);
/// A zsh script: `#compdef <program>`, usable from $fpath (as file _<program>) or sourced
/// (`source <(comfyrun completion zsh)` after compinit).
std::string ZshCompletion(const CliSpec& spec);

}  // namespace comfyrun
