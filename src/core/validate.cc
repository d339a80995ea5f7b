#include "comfyrun/validate.h"

#include <algorithm>

#include <fmt/format.h>

#include "comfyrun/dag.h"
#include "comfyrun/models.h"
#include "comfyrun/util.h"

namespace comfyrun {
namespace {

bool spec_is_generation(const std::string& type) {
  return type == "character_image" || type == "video_generation" || type == "sora2_video";
}

struct Checker {
  const Workflow& wf;
  std::vector<Diagnostic>* diags;

  void Error(const WorkflowNode& node, const std::string& path, std::string message, std::string hint = "") {
    AddError(diags, wf.file, node.id, path, std::move(message), std::move(hint));
  }

  /// The output names a node makes available to references, and whether more may appear.
  std::vector<std::string> KnownOutputs(const WorkflowNode& node, bool* open) const {
    std::vector<std::string> names;
    *open = false;
    if (!node.spec) {
      *open = true;
      return names;
    }
    for (const auto& o : node.spec->outputs) names.push_back(o.name);
    switch (node.spec->open_outputs) {
      case OpenOutputs::kNone: break;
      case OpenOutputs::kFromInputs:
        for (auto it = node.inputs.begin(); it != node.inputs.end(); ++it) names.push_back(it.key());
        break;
      case OpenOutputs::kFromExtract:
        if (node.inputs.contains("extract") && node.inputs["extract"].is_object())
          for (auto it = node.inputs["extract"].begin(); it != node.inputs["extract"].end(); ++it)
            names.push_back(it.key());
        break;
      case OpenOutputs::kAny: *open = true; break;
    }
    return names;
  }

  void CheckReference(const WorkflowNode& node, const Reference& ref) {
    if (ref.root == "params") {
      if (ref.steps.empty() || ref.steps[0].is_index()) {
        Error(node, ref.json_path, fmt::format("{} names no param", ref.text), "write <<params.NAME>>");
        return;
      }
      const std::string& name = ref.steps[0].field();
      if (!wf.params.contains(name)) {
        std::vector<std::string> names;
        for (auto it = wf.params.begin(); it != wf.params.end(); ++it) names.push_back(it.key());
        std::string close = ClosestMatch(name, names);
        Error(node, ref.json_path, fmt::format("{} refers to undeclared param {}", ref.text, Quote(name)),
              close.empty() ? fmt::format("declare it: \"params\": {{\"{}\": default}}", name)
                            : fmt::format("did you mean '{}'?", close));
      }
      return;
    }
    if (ref.root == "run") {
      if (ref.steps.size() != 1 || ref.steps[0].is_index() ||
          (ref.steps[0].field() != "id" && ref.steps[0].field() != "dir"))
        Error(node, ref.json_path, fmt::format("{}: run has only 'id' and 'dir'", ref.text));
      return;
    }
    const WorkflowNode* target = wf.Find(ref.root);
    if (!target) {
      std::vector<std::string> ids;
      for (const auto& n : wf.nodes) if (!n.id.empty()) ids.push_back(n.id);
      std::string close = ClosestMatch(ref.root, ids);
      Error(node, ref.json_path, fmt::format("{} refers to unknown node {}", ref.text, Quote(ref.root)),
            close.empty() ? "node ids: " + fmt::format("{}", fmt::join(ids, ", "))
                          : fmt::format("did you mean '{}'?", close));
      return;
    }
    if (target == &node) {
      Error(node, ref.json_path, fmt::format("{}: a node cannot use its own outputs", ref.text));
      return;
    }
    if (ref.steps.empty() || ref.steps[0].is_index()) {
      Error(node, ref.json_path, fmt::format("{} names no output of node '{}'", ref.text, ref.root),
            fmt::format("write <<{}.OUTPUT>>", ref.root));
      return;
    }
    bool open = false;
    std::vector<std::string> outputs = KnownOutputs(*target, &open);
    const std::string& output = ref.steps[0].field();
    if (open || std::find(outputs.begin(), outputs.end(), output) != outputs.end()) return;
    std::string close = ClosestMatch(output, outputs);
    Error(node, ref.json_path,
          fmt::format("{}: node '{}' ({}) has no output {}", ref.text, ref.root, target->type, Quote(output)),
          close.empty() ? fmt::format("its outputs: {}", fmt::join(outputs, ", "))
                        : fmt::format("did you mean '{}'?", close));
  }

  /// Checks a value against an input declaration. Values that hold templates are checked as
  /// far as can be known before running.
  void CheckInput(const WorkflowNode& node, const InputSpec& spec, const Json& value, const std::string& path) {
    if (value.is_string()) {
      const std::string& s = value.get_ref<const std::string&>();
      std::vector<Reference> refs;
      std::vector<std::pair<std::string, std::string>> ignored;
      FindReferences(value, path, &refs, &ignored);
      if (!refs.empty()) {
        bool whole = refs.size() == 1 && Trim(s) == s && refs[0].text == s;
        if (!whole) {  // text substitution: the result is a string
          if (spec.type != ValueType::kString && spec.type != ValueType::kAny && spec.type != ValueType::kDuration)
            Error(node, path, fmt::format("{} expects {}, but {} makes a string", spec.name,
                                          ValueTypeName(spec.type), Quote(s)));
          return;
        }
        ValueType produced = ReferenceType(wf, refs[0]);
        if (produced != ValueType::kAny && spec.type != ValueType::kAny && refs[0].steps.size() == 1 &&
            !(spec.type == ValueType::kNumber && produced == ValueType::kInteger) &&
            !(spec.type == ValueType::kDuration &&
              (produced == ValueType::kNumber || produced == ValueType::kInteger || produced == ValueType::kString)) &&
            produced != spec.type)
          Error(node, path, fmt::format("{} expects {}, but {} is {}", spec.name, ValueTypeName(spec.type), s,
                                        ValueTypeName(produced)));
        return;
      }
    }
    if (!ValueHasType(value, spec.type)) {
      std::string hint;
      if (spec.type == ValueType::kNumber && value.is_string()) {
        std::string err;
        if (auto d = ParseDuration(value.get<std::string>(), &err)) hint = fmt::format("write {} (a number)", *d);
      }
      Error(node, path, fmt::format("{} expects {}, got {} {}", spec.name, ValueTypeName(spec.type),
                                    value.type_name(), value.dump().substr(0, 60)), hint);
      return;
    }
    if (!spec.allowed.empty() && std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end()) {
      std::vector<std::string> options;
      for (const auto& a : spec.allowed) options.push_back(a.is_string() ? a.get<std::string>() : a.dump());
      std::string close = value.is_string() ? ClosestMatch(value.get<std::string>(), options) : "";
      Error(node, path, fmt::format("{} cannot be {}", spec.name, value.dump()),
            close.empty() ? fmt::format("one of: {}", fmt::join(options, ", ")) : fmt::format("did you mean '{}'?", close));
      return;
    }
    if (value.is_number() && (value.get<double>() < spec.minimum || value.get<double>() > spec.maximum))
      Error(node, path, fmt::format("{} is {}; it must be between {} and {}", spec.name, value.dump(), spec.minimum,
                                    spec.maximum));
  }

  void CheckSpecifics(const WorkflowNode& node) {
    const std::string base = node.json_path + ".inputs";
    const Json& in = node.inputs;
    const std::string& type = node.spec->name;
    if (type == "shell") {
      if (in.contains("argv") && in["argv"].is_array()) {
        if (in["argv"].empty()) Error(node, base + ".argv", "argv is empty", "give the program, e.g. [\"echo\", \"hi\"]");
        for (size_t i = 0; i < in["argv"].size(); ++i)
          if (!in["argv"][i].is_string() && !in["argv"][i].is_number())
            Error(node, fmt::format("{}.argv[{}]", base, i), "each argument is a string");
      }
      bool shell = in.value("shell", false) == true;
      if (in.contains("command") && !shell)
        Error(node, base + ".command", "command runs through /bin/sh only with \"shell\": true",
              "add \"shell\": true, or give \"argv\" as a list");
      if (in.contains("command") && in.contains("argv"))
        Error(node, base, "give either argv or command, not both");
    } else if (spec_is_generation(type)) {
      if (in.contains("model") && in["model"].is_string() && in["model"].get<std::string>().find("<<") == std::string::npos &&
          in["model"].get<std::string>().find("{{") == std::string::npos) {
        std::string err;
        const ModelInfo* model = ActiveModelCatalog().Resolve(in["model"].get<std::string>(), &err);
        if (!model) {
          Error(node, base + ".model", err);
        } else {
          bool image_node = type == "character_image";
          bool image_model = model->provider == Provider::kGemini;
          if (image_node != image_model)
            Error(node, base + ".model", fmt::format("{} is a{} model; {} needs a{} model", Quote(model->id),
                                                     image_model ? "n image" : " video", type,
                                                     image_node ? "n image" : " video"));
          else if (type == "sora2_video" && model->provider != Provider::kSora)
            Error(node, base + ".model", fmt::format("sora2_video runs Sora models; {} is a Veo model", Quote(model->id)),
                  "use video_generation for Veo");
        }
      }
    } else if (type == "video_stitch") {
      if (in.contains("videoPaths") && in["videoPaths"].is_array() && in["videoPaths"].empty())
        Error(node, base + ".videoPaths", "videoPaths is empty", "list at least one clip");
    } else if (type == "comfyui") {
      if (in.contains("workflow") && !in["workflow"].is_object() && !in["workflow"].is_string())
        Error(node, base + ".workflow", "workflow is an API-format graph (an object) or the path of one");
    } else if (type == "http") {
      if (in.contains("url") && in["url"].is_string()) {
        const std::string& url = in["url"].get_ref<const std::string&>();
        if (!StartsWith(url, "http://") && !StartsWith(url, "https://") && !StartsWith(url, "<<") &&
            !StartsWith(url, "{{"))
          Error(node, base + ".url", fmt::format("url {} is not http:// or https://", Quote(url)));
      }
      if (in.contains("extract") && in["extract"].is_object())
        for (auto it = in["extract"].begin(); it != in["extract"].end(); ++it)
          if (!it.value().is_string())
            Error(node, base + ".extract." + it.key(), "an extract path is a string like \"data.items[0].id\"");
    }
  }

  void CheckNode(const WorkflowNode& node) {
    for (const auto& ref : node.references) CheckReference(node, ref);
    for (size_t i = 0; i < node.depends_on.size(); ++i) {
      const std::string& dep = node.depends_on[i];
      if (wf.Find(dep)) {
        if (dep == node.id) Error(node, fmt::format("{}.dependsOn[{}]", node.json_path, i), "a node cannot depend on itself");
        continue;
      }
      std::vector<std::string> ids;
      for (const auto& n : wf.nodes) if (!n.id.empty()) ids.push_back(n.id);
      std::string close = ClosestMatch(dep, ids);
      Error(node, fmt::format("{}.dependsOn[{}]", node.json_path, i), fmt::format("dependsOn names unknown node {}", Quote(dep)),
            close.empty() ? "" : fmt::format("did you mean '{}'?", close));
    }
    if (!node.spec) return;
    const NodeTypeSpec& spec = *node.spec;
    const std::string base = node.json_path + ".inputs";
    if (!spec.open_inputs) {
      std::vector<std::string> names;
      for (const auto& i : spec.inputs) names.push_back(i.name);
      for (auto it = node.inputs.begin(); it != node.inputs.end(); ++it) {
        const InputSpec* input = spec.FindInput(it.key());
        if (!input) {
          std::string close = ClosestMatch(it.key(), names);
          Error(node, base + "." + it.key(), fmt::format("{} has no input {}", spec.name, Quote(it.key())),
                close.empty() ? fmt::format("its inputs: {}", fmt::join(names, ", "))
                              : fmt::format("did you mean '{}'?", close));
          continue;
        }
        CheckInput(node, *input, it.value(), base + "." + it.key());
      }
      for (const auto& input : spec.inputs)
        if (input.required && !node.inputs.contains(input.name))
          Error(node, base, fmt::format("missing required input {} ({})", Quote(input.name), input.doc),
                fmt::format("add \"{}\": ... to inputs", input.name));
      if (!spec.one_of_required.empty()) {
        bool any = false;
        for (const auto& name : spec.one_of_required) any = any || node.inputs.contains(name);
        if (!any)
          Error(node, base, fmt::format("{} needs one of: {}", spec.name, fmt::join(spec.one_of_required, ", ")));
      }
      CheckSpecifics(node);
    }
    bool open = false;
    std::vector<std::string> outputs = KnownOutputs(node, &open);
    for (size_t i = 0; i < node.declared_outputs.size() && !open; ++i) {
      const std::string& name = node.declared_outputs[i];
      if (std::find(outputs.begin(), outputs.end(), name) != outputs.end()) continue;
      std::string close = ClosestMatch(name, outputs);
      Error(node, fmt::format("{}.outputs[{}]", node.json_path, i),
            fmt::format("{} has no output {}", spec.name, Quote(name)),
            close.empty() ? fmt::format("its outputs: {}", fmt::join(outputs, ", ")) : fmt::format("did you mean '{}'?", close));
    }
  }
};

}  // namespace

ValueType ReferenceType(const Workflow& wf, const Reference& ref) {
  if (ref.root == "params") {
    if (ref.steps.size() != 1 || ref.steps[0].is_index() || !wf.params.contains(ref.steps[0].field()))
      return ValueType::kAny;
    const Json& v = wf.params[ref.steps[0].field()];
    if (v.is_string()) return ValueType::kString;
    if (v.is_number_integer()) return ValueType::kInteger;
    if (v.is_number()) return ValueType::kNumber;
    if (v.is_boolean()) return ValueType::kBoolean;
    if (v.is_array()) return ValueType::kArray;
    if (v.is_object()) return ValueType::kObject;
    return ValueType::kAny;
  }
  if (ref.root == "run") return ValueType::kString;
  const WorkflowNode* target = wf.Find(ref.root);
  if (!target || !target->spec || ref.steps.size() != 1 || ref.steps[0].is_index()) return ValueType::kAny;
  for (const auto& o : target->spec->outputs)
    if (o.name == ref.steps[0].field()) return o.type;
  return ValueType::kAny;
}

bool ValidateWorkflow(Workflow* wf, std::vector<Diagnostic>* diags) {
  size_t errors_before = CountErrors(*diags);
  Checker checker{*wf, diags};
  for (const auto& node : wf->nodes) checker.CheckNode(node);
  DepLists deps;
  deps.reserve(wf->nodes.size());
  for (const auto& node : wf->nodes) deps.push_back(node.deps);
  std::vector<size_t> cycle = FindCycle(deps);
  if (!cycle.empty()) {
    std::vector<std::string> names;
    for (size_t i : cycle) names.push_back(wf->nodes[i].id);
    const WorkflowNode& first = wf->nodes[cycle[0]];
    AddError(diags, wf->file, first.id, first.json_path,
             fmt::format("cycle: {}", fmt::join(names, " -> ")),
             "a node cannot wait, directly or through others, for its own outputs");
  }
  return CountErrors(*diags) == errors_before;
}

}  // namespace comfyrun
