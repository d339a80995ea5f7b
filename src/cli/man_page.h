#pragma once
// Help that reads like a man page: `comfyrun COMMAND --help` prints NAME, SYNOPSIS,
// DESCRIPTION, ARGUMENTS, OPTIONS, EXIT STATUS, EXAMPLES and SEE ALSO, wrapped to 80 columns.
// The texts are written beside each command's registration in cli.cc; this file only lays
// them out. Included by cli.cc alone (CLI11 stays inside the cli layer).
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace comfyrun {

/// The parts of a command's help beyond what CLI11 knows (its one-line description, its
/// arguments and options with their own descriptions).
struct ManPage {
  std::string description;  ///< paragraphs separated by "\n\n"; wrapped when printed
  std::vector<std::pair<std::string, std::string>> exit_codes;  ///< {code, meaning}
  std::vector<std::pair<std::string, std::string>> examples;    ///< {command line, what it does}
  std::string see_also;     ///< one line
};

/// Lays out help as a man page. One instance is shared by the app and its subcommands
/// (CLI11 copies the parent's formatter into each subcommand it creates).
class ManFormatter : public CLI::Formatter {
 public:
  static constexpr size_t kWidth = 80;
  static constexpr size_t kColumn = 28;  ///< where option descriptions start

  ManFormatter() { label("SUBCOMMAND", "COMMAND"); }

  void Set(const CLI::App* app, ManPage page) { pages_[app] = std::move(page); }

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return CLI::Formatter::make_help(app, name, mode);
    auto it = pages_.find(app);
    const ManPage* page = it == pages_.end() ? nullptr : &it->second;
    std::string out;
    out += "NAME\n" + Wrap(name + " - " + app->get_description(), 2, 4) + "\n";
    std::string usage = make_usage(app, name);  // "Usage: comfyrun run [OPTIONS] file\n"
    size_t colon = usage.find(": ");
    if (colon != std::string::npos) usage = usage.substr(colon + 2);
    while (!usage.empty() && usage.back() == '\n') usage.pop_back();
    out += "SYNOPSIS\n" + Wrap(usage, 2, 6) + "\n";
    if (page && !page->description.empty()) out += "DESCRIPTION\n" + Paragraphs(page->description) + "\n";

    std::vector<const CLI::Option*> positionals =
        app->get_options([](const CLI::Option* o) { return o->get_positional(); });
    if (!positionals.empty()) {
      out += "ARGUMENTS\n";
      for (const auto* o : positionals) out += Row(make_option_name(o, true) + make_option_opts(o), o->get_description());
      out += "\n";
    }
    std::vector<const CLI::Option*> options =
        app->get_options([](const CLI::Option* o) { return o->nonpositional(); });
    if (!options.empty()) {
      out += "OPTIONS\n";
      for (const auto* o : options) out += Row(make_option_name(o, false) + make_option_opts(o), o->get_description());
      out += "\n";
    }
    std::vector<const CLI::App*> commands = app->get_subcommands({});
    if (!commands.empty()) {
      out += "COMMANDS\n";
      for (const auto* c : commands) out += Row(c->get_name(), c->get_description());
      out += "\n";
    }
    if (page && !page->exit_codes.empty()) {
      out += "EXIT STATUS\n";
      for (const auto& [code, meaning] : page->exit_codes) out += Row(code, meaning, 8);
      out += "\n";
    }
    if (page && !page->examples.empty()) {
      out += "EXAMPLES\n";
      for (const auto& [command, what] : page->examples) {
        out += Wrap(command, 2, 6);
        if (!what.empty()) out += Wrap(what, 6, 6);
        out += "\n";
      }
    }
    if (page && !page->see_also.empty()) out += "SEE ALSO\n" + Wrap(page->see_also, 2, 2) + "\n";
    if (!app->get_footer().empty()) out += app->get_footer() + "\n";
    return out;
  }

  /// `text` wrapped at kWidth: the first line indented by `first`, the others by `rest`.
  static std::string Wrap(const std::string& text, size_t first, size_t rest) {
    std::string out, line(first, ' ');
    size_t indent = first;
    std::istringstream words(text);
    std::string word;
    bool empty = true;
    while (words >> word) {
      if (!empty && line.size() + 1 + word.size() > kWidth) {
        out += line + "\n";
        line = std::string(rest, ' ');
        indent = rest;
        empty = true;
      }
      if (!empty) line += ' ';
      line += word;
      empty = false;
    }
    (void)indent;
    return out + line + "\n";
  }

 private:
  static std::string Paragraphs(const std::string& text) {
    std::string out;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find("\n\n", start);
      std::string para = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!out.empty()) out += "\n";
      // A paragraph whose lines start with "- " is a list: each item wrapped on its own.
      if (para.rfind("- ", 0) == 0) {
        std::istringstream lines(para);
        std::string item;
        while (std::getline(lines, item)) out += Wrap(item, 2, 4);
      } else {
        out += Wrap(para, 2, 2);
      }
      if (end == std::string::npos) break;
      start = end + 2;
    }
    return out;
  }

  /// "  name        description" with the description wrapped under its column.
  static std::string Row(const std::string& name, const std::string& description, size_t column = kColumn) {
    std::string head = "  " + name;
    if (description.empty()) return head + "\n";
    if (head.size() + 2 > column) return head + "\n" + Wrap(description, column, column);
    std::string wrapped = Wrap(description, column, column);
    return head + wrapped.substr(head.size());
  }

  std::map<const CLI::App*, ManPage> pages_;
};

}  // namespace comfyrun
