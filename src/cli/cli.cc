#include "comfyrun/cli/cli.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <exception>

#include "comfyrun/cli/commands.h"
#include "comfyrun/cli/version.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/status_printer.h"
#include "comfyrun/export/completion.h"
#include "comfyrun/nodes/node_table.h"
#include "command_registry.h"
#include "man_page.h"

// Implementation details: CLI11 is used only in src/cli (its exceptions never leave it).
// Every command parses into an options struct and calls one function from commands.h; each
// is added by one AddXxxCommand (command_registry.h), listed once in kCommands below.

namespace comfyrun {

namespace {

/// How the completion scripts complete an option's value: from CLI11's type name, which
/// holds an IsMember check's set as ":{a,b,c}" and the type ("INT", "FLOAT", "TEXT", or a
/// name given with type_name: "DIR", "URL", "NAME").
CompletionValue ValueKind(const CLI::Option* opt, std::vector<std::string>* choices) {
  if (opt->get_expected_max() == 0) return CompletionValue::kNone;  // a flag
  std::string type = opt->get_type_name();
  size_t open = type.find(":{");
  if (open != std::string::npos && type.back() == '}') {
    std::string set = type.substr(open + 2, type.size() - open - 3);
    for (size_t start = 0; start <= set.size();) {
      size_t comma = set.find(',', start);
      if (comma == std::string::npos) comma = set.size();
      choices->push_back(set.substr(start, comma - start));
      start = comma + 1;
    }
    return CompletionValue::kChoice;
  }
  type = type.substr(0, type.find(':'));
  if (type == "DIR") return CompletionValue::kDirectory;
  if (type == "TEXT" || type == "FILE") return CompletionValue::kFile;
  return CompletionValue::kOther;
}

CliOptionSpec DescribeOption(const CLI::Option* opt) {
  CliOptionSpec o;
  for (const auto& n : opt->get_snames()) o.names.push_back("-" + n);
  for (const auto& n : opt->get_lnames()) o.names.push_back("--" + n);
  o.value = ValueKind(opt, &o.choices);
  o.repeatable = opt->get_expected_max() > 1 || opt->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
  o.description = opt->get_description();
  return o;
}

CliCommandSpec DescribeCommand(const CLI::App* cmd) {
  CliCommandSpec c;
  c.name = cmd->get_name();
  c.description = cmd->get_description();
  for (const CLI::Option* opt : cmd->get_options()) {
    if (opt->get_group().empty()) continue;  // hidden (--man)
    if (opt->nonpositional()) {
      c.options.push_back(DescribeOption(opt));
    } else if (c.positional == CompletionValue::kNone) {
      c.positional = ValueKind(opt, &c.positional_choices);
    }
  }
  for (const CLI::App* sub : cmd->get_subcommands({})) c.subcommands.push_back(DescribeCommand(sub));
  return c;
}

}  // namespace

CliSpec DescribeApp(const CLI::App& app) {
  CliCommandSpec root = DescribeCommand(&app);
  CliSpec spec;
  spec.program = root.name;
  spec.options = std::move(root.options);
  spec.commands = std::move(root.subcommands);
  return spec;
}

// The commands, in the order `comfyrun --help` lists them. Adding one: write its
// `void AddXxxCommand(CommandRegistry&)` (options, manual, the function it runs) and add one
// line here (`X(Xxx)`).
#define COMFYRUN_COMMANDS(X) \
  X(Validate)                \
  X(Plan)                    \
  X(Nodes)                   \
  X(Models)                  \
  X(Run)                     \
  X(Resume)                  \
  X(AbTest)                  \
  X(Batch)                   \
  X(Status)                  \
  X(Trace)                   \
  X(Gc)                      \
  X(Completion)              \
  X(Cache)                   \
  X(Schema)                  \
  X(Report)                  \
  X(Doctor)                  \
  X(ExecNode)
#define COMFYRUN_DECLARE_COMMAND(Name) void Add##Name##Command(CommandRegistry& registry);
COMFYRUN_COMMANDS(COMFYRUN_DECLARE_COMMAND)
#undef COMFYRUN_DECLARE_COMMAND

namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

/// "comfyrun run": the deepest command the parser had reached (for its error messages).
std::string CommandPath(const CLI::App* app) {
  std::string path = "comfyrun";
  for (const CLI::App* cmd = app;;) {
    auto chosen = cmd->get_subcommands();
    if (chosen.empty()) break;
    cmd = chosen.front();
    path += " " + cmd->get_name();
  }
  return path;
}

/// A first word that is no command: say so, with the closest command. False when it is one
/// (or an option, left to the parser).
bool UnknownCommand(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  const std::string word = argv[1];
  std::string best;
  size_t best_distance = 0;
  for (const CLI::App* cmd : app.get_subcommands({})) {
    if (cmd->get_name() == word) return false;
    size_t d = EditDistance(word, cmd->get_name());
    if (best.empty() || d < best_distance) best = cmd->get_name(), best_distance = d;
  }
  std::string hint =
      best_distance <= std::max<size_t>(2, word.size() / 3) ? fmt::format("; did you mean `{}`?", best) : "";
  fmt::print(stderr, "comfyrun: unknown command {}{} (`comfyrun --help` lists the commands)\n", Quote(word), hint);
  return true;
}

int ParseAndRun(int argc, char** argv) {
  CLI::App app{
      "run AI content-generation workflows (Gemini image, Veo, Sora, ComfyUI, FFmpeg) as a DAG, in parallel, "
      "with a crash-safe journal so that resume never pays twice",
      "comfyrun"};
  // Help reads like a man page (man_page.h). Set before the subcommands, which copy it; the
  // texts are in the manual block before parsing.
  auto man = std::make_shared<ManFormatter>();
  app.formatter(man);
  app.set_version_flag("--version", VersionText());
  // Hidden: the whole manual as a roff man page; the build installs it as comfyrun.1.
  app.add_flag_callback("--man",
                        [&] {
                          fmt::print("{}", man->Roff(&app));
                          throw CLI::Success();
                        })
      ->group("");
  app.require_subcommand(1);
  // Every parser error names the command it is about: "comfyrun run: --jobs: ...".
  app.failure_message([](const CLI::App* parsed, const CLI::Error& e) {
    return fmt::format("{}: {}\nRun with --help for more information.\n", CommandPath(parsed), e.what());
  });
  CommandRegistry registry(&app, man.get());
#define COMFYRUN_ADD_COMMAND(Name) Add##Name##Command(registry);
  COMFYRUN_COMMANDS(COMFYRUN_ADD_COMMAND)
#undef COMFYRUN_ADD_COMMAND

  // The manual: what `comfyrun --help` prints beyond each option's own line.
  registry.Manual(
      &app,
      {"comfyrun runs AI content-generation workflows from the command line. A workflow is a JSON file of "
       "nodes (generate a character image with a Gemini image model, turn it into clips with Veo or Sora, "
       "run ComfyUI graphs, stitch the clips, check the result) whose inputs refer to other nodes' outputs "
       "with <<node.output>>. comfyrun runs independent branches in parallel and records every step in a "
       "journal, so that an interrupted run continues where it stopped without paying twice.\n\n"
       "Everything a run writes goes under --out (default ./generated): runs/<runId>/ (files), "
       "journals/<runId>.jsonl, metrics/<runId>.json and ab-tests/. Logs and progress go to stderr; machine "
       "output (--json) to stdout. Keys come from GEMINI_API_KEY and OPENAI_API_KEY (or a .env file).",
       {{"0", "success"},
        {"1", "the run finished but a node failed (or no A/B variant succeeded)"},
        CommandRegistry::ExitBadInput(),
        CommandRegistry::ExitInterrupted()},
       {{"comfyrun run graphs/quickstart.json --offline", "run the quickstart for free: placeholder media, no keys"},
        {"comfyrun COMMAND --help", "a command's manual"}},
       "README.md; docs/ (schema, report, cache, observability, cron, guarantees)"});

  if (UnknownCommand(app, argc, argv)) return kExitInvalid;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInvalid;
  }
  int code = registry.RunChosen();
  return code < 0 ? kExitInvalid : code;
}

}  // namespace

int RunCli(int argc, char** argv) {
  // Standard descriptors closed by the caller (`>&-`) are reopened on /dev/null first, so the
  // journal can never be opened as stdout or stderr; a reader that goes away (`| head -1`)
  // makes writes fail with EPIPE instead of killing the process (WriteConsole stops writing
  // there); spdlog reports its own write errors to nobody rather than throw.
  EnsureStandardDescriptors();
  InstallNodeTypes();  // core's node-type table: the built-in types and the provider rows
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::set_error_handler([](const std::string&) {});
  // The commands report every expected failure themselves; this is the last line for the
  // unexpected, so that no exception ends the process with an abort.
  try {
    return ParseAndRun(argc, argv);
  } catch (const std::exception& e) {
    WriteConsole(stderr, fmt::format("comfyrun: internal error: {}\n", e.what()));
  } catch (...) {
    WriteConsole(stderr, "comfyrun: internal error (unknown exception)\n");
  }
  return kExitInvalid;
}

}  // namespace comfyrun
