// Bash and zsh completion scripts from a CliSpec (export/completion.h).
//
// Implementation details: the bash script finds the subcommand (the first word after the
// program that is not an option; no global option takes a value), then completes by the
// previous word (an option's value) or the current one (an option name, or a positional
// word). It uses only bash builtins (compgen, compopt), so it needs no bash-completion
// package. The zsh script is one _arguments spec per subcommand.
#include "comfyrun/export/completion.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

/// Words that can go into `compgen -W` and zsh specs unquoted.
bool PlainWord(const std::string& w) {
  if (w.empty()) return false;
  for (unsigned char c : w)
    if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+')) return false;
  return true;
}

std::vector<std::string> PlainWords(const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (const auto& w : words)
    if (PlainWord(w)) out.push_back(w);
  return out;
}

/// The first sentence of a description, on one line: enough for a completion menu.
std::string Short(const std::string& description) {
  std::string s = description.substr(0, description.find('\n'));
  size_t stop = s.find("; ");
  if (stop != std::string::npos) s = s.substr(0, stop);
  return Abbreviate(Trim(s), 70);
}

/// The bash statement that completes a value of this kind from $cur.
std::string BashValue(CompletionValue kind, const std::vector<std::string>& choices) {
  switch (kind) {
    case CompletionValue::kFile:
      return "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))";
    case CompletionValue::kDirectory:
      return "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\"))";
    case CompletionValue::kChoice:
      return fmt::format("COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))", fmt::join(PlainWords(choices), " "));
    case CompletionValue::kNone:
    case CompletionValue::kOther:
      break;
  }
  return "COMPREPLY=()";
}

std::vector<std::string> AllNames(const std::vector<CliOptionSpec>& options) {
  std::vector<std::string> names;
  for (const auto& o : options)
    for (const auto& n : o.names)
      if (PlainWord(n)) names.push_back(n);
  return names;
}

/// Escapes text for a zsh _arguments description inside '[...]' within single quotes.
std::string ZshDescription(const std::string& text) {
  std::string out;
  for (char c : Short(text)) {
    if (c == '\'')
      out += "'\\''";
    else if (c == '[' || c == ']' || c == ':' || c == '\\')
      out += std::string("\\") + c;
    else
      out += c;
  }
  return out;
}

std::string ZshAction(CompletionValue kind, const std::vector<std::string>& choices) {
  switch (kind) {
    case CompletionValue::kFile:
      return "_files";
    case CompletionValue::kDirectory:
      return "_files -/";
    case CompletionValue::kChoice:
      return fmt::format("({})", fmt::join(PlainWords(choices), " "));
    case CompletionValue::kNone:
    case CompletionValue::kOther:
      break;
  }
  return " ";  // a value with no suggestions
}

/// One _arguments spec line per option: '(-o --out)'{-o,--out}'[desc]:value:_files'.
std::string ZshOptionSpec(const CliOptionSpec& o) {
  std::vector<std::string> names = PlainWords(o.names);
  if (names.empty()) return "";
  std::string desc = "[" + ZshDescription(o.description) + "]";
  std::string value = o.value == CompletionValue::kNone ? "" : ":value:" + ZshAction(o.value, o.choices);
  std::string exclusion = o.repeatable       ? "*"
                          : names.size() > 1 ? "(" + fmt::format("{}", fmt::join(names, " ")) + ")"
                                             : "";
  if (names.size() == 1) return fmt::format("'{}{}{}{}'", exclusion, names[0], desc, value);
  return fmt::format("'{}'{{{}}}'{}{}'", exclusion, fmt::join(names, ","), desc, value);
}

/// Every command with its path ("cache ls"), parents before their subcommands.
void Flatten(const std::vector<CliCommandSpec>& commands, const std::string& prefix,
             std::vector<std::pair<std::string, const CliCommandSpec*>>* out) {
  for (const auto& c : commands) {
    if (!PlainWord(c.name)) continue;
    std::string path = prefix.empty() ? c.name : prefix + " " + c.name;
    out->push_back({path, &c});
    Flatten(c.subcommands, path, out);
  }
}

std::vector<std::string> CommandNames(const std::vector<CliCommandSpec>& commands) {
  std::vector<std::string> names;
  for (const auto& c : commands)
    if (PlainWord(c.name)) names.push_back(c.name);
  return names;
}

std::string ZshQuote(const std::string& text) {
  std::string out;
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out;
}

/// A zsh function completing `commands` (with `options` before them): the top level, or a
/// command with subcommands, which gets a function of its own.
void ZshCommandFunction(const std::string& fn, const std::string& label, const std::vector<CliOptionSpec>& options,
                        const std::vector<CliCommandSpec>& commands, std::string* out) {
  std::string s;
  s += fn + "() {\n";
  s += "  local curcontext=\"$curcontext\" state line ret=1\n";
  s += "  typeset -A opt_args\n";
  s += "  _arguments -C \\\n";
  for (const auto& o : options) {
    std::string line = ZshOptionSpec(o);
    if (!line.empty()) s += "    " + line + " \\\n";
  }
  s += "    '1:command:->command' \\\n";
  s += "    '*::arg:->args' && ret=0\n";
  s += "  case $state in\n";
  s += "    command)\n";
  s += "      local -a commands\n";
  s += "      commands=(\n";
  for (const auto& c : commands)
    if (PlainWord(c.name)) s += fmt::format("        '{}:{}'\n", c.name, ZshQuote(Short(c.description)));
  s += "      )\n";
  s += fmt::format("      _describe -t commands '{} command' commands && ret=0 ;;\n", label);
  s += "    args)\n";
  s += "      case $line[1] in\n";
  std::vector<std::string> nested;
  for (const auto& c : commands) {
    if (!PlainWord(c.name)) continue;
    s += fmt::format("        {})\n", c.name);
    if (!c.subcommands.empty()) {
      std::string sub_fn = fn + "_" + c.name;
      for (char& ch : sub_fn) ch = ch == '-' || ch == '.' || ch == '+' ? '_' : ch;
      s += fmt::format("          {} && ret=0 ;;\n", sub_fn);
      ZshCommandFunction(sub_fn, label + " " + c.name, c.options, c.subcommands, out);
      continue;
    }
    s += "          _arguments \\\n";
    for (const auto& o : c.options) {
      std::string line = ZshOptionSpec(o);
      if (!line.empty()) s += "            " + line + " \\\n";
    }
    if (c.positional != CompletionValue::kNone)
      s += fmt::format("            '*:argument:{}' \\\n", ZshAction(c.positional, c.positional_choices));
    s += "            && ret=0 ;;\n";
  }
  s += "      esac ;;\n";
  s += "  esac\n";
  s += "  return ret\n";
  s += "}\n";
  *out += s;
}

}  // namespace

std::string BashCompletion(const CliSpec& spec) {
  const std::string fn = "_" + spec.program;
  std::vector<std::pair<std::string, const CliCommandSpec*>> all;
  Flatten(spec.commands, "", &all);
  std::vector<std::string> parents;  // paths of commands that have subcommands
  for (const auto& [path, c] : all)
    if (!c->subcommands.empty()) parents.push_back("\"" + path + "\"");

  std::string s;
  s += fmt::format("# bash completion for {0} (generated by `{0} completion bash`; do not edit: regenerate)\n",
                   spec.program);
  s += fmt::format("# Install: source it from ~/.bashrc, or copy it to /usr/share/bash-completion/completions/{}\n",
                   spec.program);
  s += fn + "() {\n";
  s += "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= w i\n";
  s += "  # The command path: the first word that is not an option, then a subcommand's name.\n";
  s += "  for ((i = 1; i < COMP_CWORD; i++)); do\n";
  s += "    w=${COMP_WORDS[i]}\n";
  s += "    [[ $w == -* ]] && continue\n";
  s += "    if [[ -z $cmd ]]; then cmd=$w; continue; fi\n";
  if (parents.empty())
    s += "    break\n";
  else
    s += fmt::format("    case $cmd in {}) cmd=\"$cmd $w\" ;; *) break ;; esac\n", fmt::join(parents, "|"));
  s += "  done\n";
  s += "  if [[ -z $cmd ]]; then\n";
  s += fmt::format("    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n",
                   fmt::join(AllNames(spec.options), " "));
  s += fmt::format("    else COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); fi\n",
                   fmt::join(CommandNames(spec.commands), " "));
  s += "    return 0\n  fi\n";
  s += "  case $cmd in\n";
  for (const auto& [path, c] : all) {
    s += fmt::format("    \"{}\")\n", path);
    // The value of the option before the cursor.
    std::string value_cases;
    for (const auto& o : c->options) {
      if (o.value == CompletionValue::kNone) continue;
      std::vector<std::string> names = PlainWords(o.names);
      if (names.empty()) continue;
      value_cases += fmt::format("        {}) {}; return 0 ;;\n", fmt::join(names, "|"), BashValue(o.value, o.choices));
    }
    if (!value_cases.empty()) s += "      case $prev in\n" + value_cases + "      esac\n";
    s += fmt::format("      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return 0; fi\n",
                     fmt::join(AllNames(c->options), " "));
    if (!c->subcommands.empty())
      s += "      " + BashValue(CompletionValue::kChoice, CommandNames(c->subcommands)) + " ;;\n";
    else
      s += "      " + BashValue(c->positional, c->positional_choices) + " ;;\n";
  }
  s += "  esac\n";
  s += "  return 0\n";
  s += "}\n";
  s += fmt::format("complete -F {} {}\n", fn, spec.program);
  return s;
}

std::string ZshCompletion(const CliSpec& spec) {
  const std::string fn = "_" + spec.program;
  std::string s;
  s += fmt::format("#compdef {}\n", spec.program);
  s += fmt::format("# zsh completion for {0} (generated by `{0} completion zsh`; do not edit: regenerate)\n",
                   spec.program);
  s += fmt::format("# Install: save as {} in a folder on $fpath, or `source <({} completion zsh)` after compinit\n", fn,
                   spec.program);
  std::string functions;
  ZshCommandFunction(fn, spec.program, spec.options, spec.commands, &functions);
  s += functions;
  // Autoloaded from $fpath the file is the function's body; sourced, it registers itself.
  s += fmt::format("if [[ $funcstack[1] == {} ]]; then\n  {} \"$@\"\nelse\n  compdef {} {}\nfi\n", fn, fn, fn,
                   spec.program);
  return s;
}

}  // namespace comfyrun
