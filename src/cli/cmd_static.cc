// The commands that read a workflow without running it: validate, plan, nodes.
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/node_registry.h"
#include "comfyrun/core/plan_report.h"

namespace comfyrun {

void PrintDiagnostics(const std::vector<Diagnostic>& diags) {
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& d : diags)
      if ((d.severity == Severity::kWarning) == (pass == 0)) fmt::print(stderr, "{}\n", d.Format());
}

std::vector<ParamOverride> ParseParamArguments(const std::vector<std::string>& args, std::vector<Diagnostic>* diags) {
  std::vector<ParamOverride> out;
  for (const auto& arg : args) {
    ParamOverride p;
    std::string err;
    if (ParseParamArgument(arg, &p, &err))
      out.push_back(p);
    else
      AddError(diags, "", "", "", err);
  }
  return out;
}

namespace {
Json DiagnosticToJson(const Diagnostic& d) {
  Json j = {
      {"severity", d.severity == Severity::kError ? "error" : "warning"}, {"file", d.file}, {"message", d.message}};
  if (!d.node_id.empty()) j["node"] = d.node_id;
  if (!d.json_path.empty()) j["path"] = d.json_path;
  if (!d.hint.empty()) j["hint"] = d.hint;
  return j;
}
}  // namespace

int ValidateCommand(const ValidateOptions& options) {
  std::vector<Diagnostic> all;
  size_t invalid = 0;
  for (const auto& file : options.files) {
    std::vector<Diagnostic> diags;
    auto overrides = ParseParamArguments(options.params, &diags);
    Workflow wf;
    bool ok = LoadWorkflow(file, overrides, &wf, &diags) && CountErrors(diags) == 0;
    if (!ok) ++invalid;
    if (!options.json) {
      PrintDiagnostics(diags);
      size_t errors = CountErrors(diags);
      if (ok)
        fmt::print(stderr, "{}: valid ({} node{})\n", file, wf.nodes.size(), wf.nodes.size() == 1 ? "" : "s");
      else
        fmt::print(stderr, "{}: {} error{}\n", file, errors, errors == 1 ? "" : "s");
    }
    all.insert(all.end(), diags.begin(), diags.end());
  }
  if (options.json) {
    Json out = {{"valid", invalid == 0}, {"diagnostics", Json::array()}};
    for (const auto& d : all) out["diagnostics"].push_back(DiagnosticToJson(d));
    // Replace invalid UTF-8 rather than throw: messages quote user input.
    fmt::print("{}\n", out.dump(2, ' ', false, Json::error_handler_t::replace));
  }
  return invalid == 0 ? kExitOk : kExitInvalid;
}

int PlanCommand(const PlanOptions& options) {
  std::vector<Diagnostic> diags;
  auto overrides = ParseParamArguments(options.params, &diags);
  Workflow wf;
  if (!LoadWorkflow(options.file, overrides, &wf, &diags) || CountErrors(diags) > 0) {
    PrintDiagnostics(diags);
    return kExitInvalid;
  }
  PrintDiagnostics(diags);
  PlanReport report = BuildPlanReport(wf, options.offline);
  if (options.dot)
    fmt::print("{}", PlanToDot(wf, report));
  else if (options.json)
    fmt::print("{}\n", PlanToJson(wf, report).dump(2));
  else
    fmt::print("{}", FormatPlanText(wf, report));
  return kExitOk;
}

namespace {
std::string DefaultText(const InputSpec& input) {
  if (input.required) return "required";
  if (input.default_value.is_null()) return "optional";
  return "default " + input.default_value.dump();
}

Json TypeToJson(const NodeTypeSpec& t) {
  Json inputs = Json::array();
  for (const auto& i : t.inputs) {
    Json j = {{"name", i.name}, {"type", ValueTypeName(i.type)}, {"required", i.required}, {"doc", i.doc}};
    if (!i.default_value.is_null()) j["default"] = i.default_value;
    if (!i.allowed.empty()) j["allowed"] = i.allowed;
    if (i.minimum > -1e299) j["minimum"] = i.minimum;
    if (i.maximum < 1e299) j["maximum"] = i.maximum;
    inputs.push_back(j);
  }
  Json outputs = Json::array();
  for (const auto& o : t.outputs)
    outputs.push_back({{"name", o.name}, {"type", ValueTypeName(o.type)}, {"doc", o.doc}});
  Json j = {{"type", t.name},
            {"aliases", t.aliases},
            {"summary", t.summary},
            {"inputs", inputs},
            {"outputs", outputs},
            {"openInputs", t.open_inputs},
            {"openOutputs", t.open_outputs != OpenOutputs::kNone},
            {"pool", t.default_pool},
            {"paid", t.paid}};
  if (!t.one_of_required.empty()) j["oneOfRequired"] = t.one_of_required;
  return j;
}
}  // namespace

int NodesCommand(const NodesOptions& options) {
  std::vector<const NodeTypeSpec*> types;
  if (options.type.empty()) {
    for (const auto& t : AllNodeTypes()) types.push_back(&t);
  } else if (const NodeTypeSpec* t = FindNodeType(options.type)) {
    types.push_back(t);
  } else {
    fmt::print(stderr, "comfyrun nodes: unknown node type '{}'\n", options.type);
    return kExitInvalid;
  }
  if (options.json) {
    Json out = Json::array();
    for (const auto* t : types) out.push_back(TypeToJson(*t));
    fmt::print("{}\n", (options.type.empty() ? out : out[0]).dump(2));
    return kExitOk;
  }
  bool detail = !options.type.empty();
  for (const auto* t : types) {
    fmt::print("{}{}  {}\n", t->name, t->aliases.empty() ? "" : fmt::format(" (alias {})", fmt::join(t->aliases, ", ")),
               t->summary);
    if (!detail) continue;
    fmt::print("  inputs:\n");
    if (t->open_inputs) fmt::print("    any name: any value; each becomes an output\n");
    for (const auto& i : t->inputs) {
      fmt::print("    {:<20} {:<9} {:<22} {}\n", i.name, ValueTypeName(i.type), DefaultText(i), i.doc);
      if (!i.allowed.empty() && i.allowed.size() <= 12) {
        std::vector<std::string> names;
        for (const auto& a : i.allowed) names.push_back(a.is_string() ? a.get<std::string>() : a.dump());
        fmt::print("    {:<20} one of: {}\n", "", fmt::join(names, ", "));
      }
    }
    if (!t->one_of_required.empty()) fmt::print("    (one of {} is required)\n", fmt::join(t->one_of_required, ", "));
    fmt::print("  outputs:\n");
    for (const auto& o : t->outputs) fmt::print("    {:<20} {:<9} {}\n", o.name, ValueTypeName(o.type), o.doc);
    if (t->open_outputs == OpenOutputs::kAny) fmt::print("    (and the fields of stdout when it is a JSON object)\n");
    if (t->open_outputs == OpenOutputs::kFromExtract) fmt::print("    (and one output per key of `extract`)\n");
    if (t->open_outputs == OpenOutputs::kFromInputs) fmt::print("    (every input, under its own name)\n");
    fmt::print("  pool: {}\n", t->default_pool.empty() ? "(none)" : t->default_pool);
  }
  if (!detail) fmt::print("\nRun `comfyrun nodes TYPE` for a type's inputs and outputs.\n");
  return kExitOk;
}

}  // namespace comfyrun
