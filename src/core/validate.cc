#include "comfyrun/core/validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "comfyrun/core/dag.h"
#include "comfyrun/core/util.h"
#include "comfyrun/providers/models.h"

namespace comfyrun {
namespace {

bool IsGenerationType(const std::string& type) {
  return type == "character_image" || type == "video_generation" || type == "sora2_video";
}

/// "a number", "an integer", "an array": type names as they read in a sentence.
std::string WithArticle(ValueType type) {
  std::string name = ValueTypeName(type);
  bool vowel = name[0] == 'a' || name[0] == 'e' || name[0] == 'i' || name[0] == 'o' || name[0] == 'u';
  return (vowel ? "an " : "a ") + name;
}

/// At most `limit` names joined with ", ", then "... (N in all)": hints stay one line even
/// for a workflow of 100,000 nodes.
std::string JoinSome(const std::vector<std::string>& names, size_t limit = 12) {
  if (names.size() <= limit) return fmt::format("{}", fmt::join(names, ", "));
  std::vector<std::string> head(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(limit));
  return fmt::format("{}, ... ({} in all)", fmt::join(head, ", "), names.size());
}

std::string DidYouMean(const std::string& close) {
  return close.empty() ? "" : fmt::format("; did you mean '{}'?", close);
}

/// The type of a literal value; kAny for null and for strings holding a template (their type
/// is only known once resolved).
ValueType LiteralType(const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return s.find("<<") != std::string::npos || s.find("{{") != std::string::npos ? ValueType::kAny
                                                                                  : ValueType::kString;
  }
  if (v.is_number_integer()) return ValueType::kInteger;
  if (v.is_number()) return ValueType::kNumber;
  if (v.is_boolean()) return ValueType::kBoolean;
  if (v.is_array()) return ValueType::kArray;
  if (v.is_object()) return ValueType::kObject;
  return ValueType::kAny;
}

struct Checker {
  const Workflow& wf;
  std::vector<Diagnostic>* diags;
  std::vector<std::string> ids_;  ///< every node id, built on the first unknown-node error

  /// Model names resolved so far: a workflow of 100,000 clips names the same few models.
  std::unordered_map<std::string, std::pair<const ModelInfo*, std::string>> models_;

  const ModelInfo* ResolveModel(const std::string& name, std::string* err) {
    auto it = models_.find(name);
    if (it == models_.end()) {
      std::string e;
      const ModelInfo* info = ActiveModelCatalog().Resolve(name, &e);
      it = models_.emplace(name, std::make_pair(info, e)).first;
    }
    *err = it->second.second;
    return it->second.first;
  }

  const std::vector<std::string>& NodeIds() {
    if (ids_.empty())
      for (const auto& n : wf.nodes)
        if (!n.id.empty()) ids_.push_back(n.id);
    return ids_;
  }

  void Error(const WorkflowNode& node, const std::string& path, std::string message, std::string hint = "") {
    AddError(diags, wf.file, node.id, path, std::move(message), std::move(hint));
  }

  /// Calls visit(name) for each output name a node makes available to references, until it
  /// returns true; returns whether it did. *open: more names may appear (any name is fine).
  template <class Visit>
  static bool VisitKnownOutputs(const WorkflowNode& node, bool* open, Visit visit) {
    *open = !node.spec || node.spec->open_outputs == OpenOutputs::kAny;
    if (!node.spec) return false;
    for (const auto& o : node.spec->outputs)
      if (visit(o.name)) return true;
    const Json* more = nullptr;
    if (node.spec->open_outputs == OpenOutputs::kFromInputs) more = &node.inputs;
    if (node.spec->open_outputs == OpenOutputs::kFromExtract && node.inputs.contains("extract") &&
        node.inputs["extract"].is_object())
      more = &node.inputs["extract"];
    if (more)
      for (auto it = more->begin(); it != more->end(); ++it)
        if (visit(it.key())) return true;
    return false;
  }

  /// Whether `node` makes output `name` available (or may): without building the list of
  /// outputs, which only an error message needs; every reference of every node is checked.
  static bool HasOutput(const WorkflowNode& node, const std::string& name) {
    bool open = false;
    return VisitKnownOutputs(node, &open, [&](const std::string& o) { return o == name; }) || open;
  }

  /// The output names a node makes available to references, and whether more may appear.
  std::vector<std::string> KnownOutputs(const WorkflowNode& node, bool* open) const {
    std::vector<std::string> names;
    VisitKnownOutputs(node, open, [&](const std::string& o) {
      names.push_back(o);
      return false;
    });
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
        Error(node, ref.json_path,
              fmt::format("{} names undeclared param {}{}", ref.text, Quote(name), DidYouMean(close)),
              close.empty() ? fmt::format("declare it: \"params\": {{\"{}\": DEFAULT}}", name) : "");
      }
      return;
    }
    if (ref.root == "run") {
      if (ref.steps.size() != 1 || ref.steps[0].is_index() ||
          (ref.steps[0].field() != "id" && ref.steps[0].field() != "dir"))
        Error(node, ref.json_path, fmt::format("{}: run has only 'id' and 'dir'", ref.text),
              "write <<run.id>> or <<run.dir>>");
      return;
    }
    const WorkflowNode* target = wf.Find(ref.root);
    if (!target) {
      std::string close = ClosestMatch(ref.root, NodeIds());
      Error(node, ref.json_path,
            fmt::format("{} names unknown node {}{}", ref.text, Quote(ref.root), DidYouMean(close)),
            close.empty() ? "node ids: " + JoinSome(NodeIds()) : "");
      return;
    }
    if (target == &node) {
      Error(node, ref.json_path, fmt::format("{}: a node cannot use its own outputs", ref.text),
            "use a value node for a constant both need, or split the node in two");
      return;
    }
    if (ref.steps.empty() || ref.steps[0].is_index()) {
      Error(node, ref.json_path, fmt::format("{} names no output of node '{}'", ref.text, ref.root),
            fmt::format("write <<{}.OUTPUT>>", ref.root));
      return;
    }
    const std::string& output = ref.steps[0].field();
    if (HasOutput(*target, output)) return;
    bool open = false;
    std::vector<std::string> outputs = KnownOutputs(*target, &open);
    std::string close = ClosestMatch(output, outputs);
    Error(node, ref.json_path,
          fmt::format("{}: node '{}' ({}) has no output {}{}", ref.text, ref.root, target->type, Quote(output),
                      DidYouMean(close)),
          fmt::format("its outputs: {}", JoinSome(outputs)));
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
            Error(node, path,
                  fmt::format("{} expects {}, but {} makes a string", spec.name, WithArticle(spec.type), Quote(s)),
                  "a string that is exactly one template keeps the referenced value's type");
          return;
        }
        ValueType produced = ReferenceType(wf, refs[0]);
        if (produced != ValueType::kAny && spec.type != ValueType::kAny && refs[0].steps.size() == 1 &&
            !(spec.type == ValueType::kNumber && produced == ValueType::kInteger) &&
            !(spec.type == ValueType::kDuration &&
              (produced == ValueType::kNumber || produced == ValueType::kInteger || produced == ValueType::kString)) &&
            produced != spec.type)
          Error(
              node, path,
              fmt::format("{} expects {}, but {} is {}", spec.name, WithArticle(spec.type), s, WithArticle(produced)));
        return;
      }
    }
    if (!ValueHasType(value, spec.type)) {
      std::string hint;
      if (spec.type == ValueType::kNumber && value.is_string()) {
        std::string err;
        if (auto d = ParseDuration(value.get<std::string>(), &err)) hint = fmt::format("write {} (a number)", *d);
      }
      if (spec.type == ValueType::kDuration && (value.is_string() || value.is_number())) {
        std::string err;
        if (value.is_string())
          ParseDuration(value.get<std::string>(), &err);
        else
          err = fmt::format("duration {} is negative", value.dump());
        Error(node, path, fmt::format("{}: {}", spec.name, err));
        return;
      }
      Error(node, path,
            fmt::format("{} expects {}, got {} {}", spec.name, WithArticle(spec.type), value.type_name(),
                        Abbreviate(value.dump(), 60)),
            hint);
      return;
    }
    if (!spec.allowed.empty() && std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end()) {
      std::vector<std::string> options;
      for (const auto& a : spec.allowed) options.push_back(a.is_string() ? a.get<std::string>() : a.dump());
      std::string close = value.is_string() ? ClosestMatch(value.get<std::string>(), options) : "";
      Error(node, path, fmt::format("{} cannot be {}{}", spec.name, Abbreviate(value.dump(), 60), DidYouMean(close)),
            fmt::format("one of: {}", fmt::join(options, ", ")));
      return;
    }
    if (value.is_number() && (value.get<double>() < spec.minimum || value.get<double>() > spec.maximum)) {
      // Bounds of +-1e300 mean "none"; very large ones are technical limits, not worth naming.
      bool has_max = spec.maximum<1e9, has_min = spec.minimum> - 1e9;
      std::string range = has_min && has_max ? fmt::format("between {} and {}", spec.minimum, spec.maximum)
                          : has_min          ? fmt::format("at least {}", spec.minimum)
                                             : fmt::format("at most {}", spec.maximum);
      Error(node, path, fmt::format("{} is {}; it must be {}", spec.name, value.dump(), range));
    }
  }

  /// When a string input's text is known before the run (literals and params only) and is
  /// empty or blank: the params it names (possibly none). nullopt when it is not blank, or
  /// not known (it names a node's output).
  std::optional<std::vector<std::string>> BlankText(const Json& value) const {
    if (!value.is_string()) return std::nullopt;
    const std::string& s = value.get_ref<const std::string&>();
    if (s.find("<<") == std::string::npos && s.find("{{") == std::string::npos) {
      if (!TrimView(s).empty()) return std::nullopt;
      return std::vector<std::string>();
    }
    if (s.find("params") == std::string::npos) return std::nullopt;  // names a node: known only when run
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    FindReferences(value, "", &refs, &errors);
    std::vector<std::string> params;
    for (const auto& r : refs) {
      if (r.root != "params" || r.steps.size() != 1 || r.steps[0].is_index()) return std::nullopt;
      params.push_back(r.steps[0].field());
    }
    Json resolved;
    std::string err;
    auto lookup = [&](const std::string& root) -> const Json* { return root == "params" ? &wf.params : nullptr; };
    if (!errors.empty() || !ResolveTemplates(value, lookup, &resolved, &err)) return std::nullopt;
    if (!resolved.is_string() || !TrimView(resolved.get_ref<const std::string&>()).empty()) return std::nullopt;
    return params;
  }

  /// A required text input that would be empty when the node starts (a literal "", or
  /// --param character= given to "<<params.character>>") fails then, after the journal was
  /// made: reported now instead.
  void CheckNotBlank(const WorkflowNode& node, const std::string& name, const std::string& path) {
    auto params = BlankText(node.inputs[name]);
    if (!params) return;
    if (params->empty()) {
      Error(node, path, fmt::format("{} is empty", name), "write the text the node needs");
      return;
    }
    std::vector<std::string> given;
    for (const auto& p : *params) given.push_back(fmt::format("{}=\"{}\"", p, TemplateText(wf.params[p])));
    Error(node, path,
          fmt::format("{} would be empty: it is {} and params {}", name,
                      Quote(node.inputs[name].get_ref<const std::string&>()), fmt::join(given, ", ")),
          fmt::format("give the param a value: --param {}=TEXT", params->front()));
  }

  void CheckSpecifics(const WorkflowNode& node) {
    const std::string base = node.json_path + ".inputs";
    const Json& in = node.inputs;
    const std::string& type = node.spec->name;
    if (type == "shell") {
      if (in.contains("argv") && in["argv"].is_array()) {
        if (in["argv"].empty())
          Error(node, base + ".argv", "argv is empty", "give the program, e.g. [\"echo\", \"hi\"]");
        for (size_t i = 0; i < in["argv"].size(); ++i)
          if (!in["argv"][i].is_string() && !in["argv"][i].is_number())
            Error(node, fmt::format("{}.argv[{}]", base, i), "each argument is a string");
      }
      bool shell = in.contains("shell") && in["shell"].is_boolean() && in["shell"].get<bool>();
      if (in.contains("command") && !shell)
        Error(node, base + ".command", "command runs through /bin/sh only with \"shell\": true",
              "add \"shell\": true, or give \"argv\" as a list");
      if (in.contains("command") && in.contains("argv")) Error(node, base, "give either argv or command, not both");
    } else if (IsGenerationType(type)) {
      if (in.contains("model") && in["model"].is_string() &&
          in["model"].get<std::string>().find("<<") == std::string::npos &&
          in["model"].get<std::string>().find("{{") == std::string::npos) {
        std::string err;
        const ModelInfo* model = ResolveModel(in["model"].get<std::string>(), &err);
        if (!model) {
          Error(node, base + ".model", err);
        } else {
          bool image_node = type == "character_image";
          bool image_model = model->provider == Provider::kGemini;
          if (image_node != image_model)
            Error(node, base + ".model",
                  fmt::format("{} is a{} model; {} needs a{} model", Quote(model->id),
                              image_model ? "n image" : " video", type, image_node ? "n image" : " video"),
                  image_node ? "e.g. \"model\": \"nanobanana\"" : "e.g. \"model\": \"veo3-fast\" or \"sora-2\"");
          else if (type == "sora2_video" && model->provider != Provider::kSora)
            Error(node, base + ".model",
                  fmt::format("sora2_video runs Sora models; {} is a Veo model", Quote(model->id)),
                  "use video_generation for Veo");
        }
      }
    } else if (type == "video_stitch") {
      if (in.contains("videoPaths") && in["videoPaths"].is_array() && in["videoPaths"].empty())
        Error(node, base + ".videoPaths", "videoPaths is empty", "list at least one clip");
      // The output is written inside the node's folder; a name that would leave it (and so
      // possibly --out) is refused here when it is known, and by the node when a template makes it.
      if (in.contains("output") && in["output"].is_string()) {
        const std::string& name = in["output"].get_ref<const std::string&>();
        if (name.find("<<") == std::string::npos && name.find("{{") == std::string::npos &&
            (name.find('/') != std::string::npos || name == "." || name == ".."))
          Error(node, base + ".output",
                fmt::format("output {} is not a file name: it must stay inside the node's folder", Quote(name)),
                "give a plain file name such as \"final.mp4\"");
      }
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
        if (dep == node.id)
          Error(node, fmt::format("{}.dependsOn[{}]", node.json_path, i), "a node cannot depend on itself");
        continue;
      }
      std::string close = ClosestMatch(dep, NodeIds());
      Error(node, fmt::format("{}.dependsOn[{}]", node.json_path, i),
            fmt::format("dependsOn names unknown node {}{}", Quote(dep), DidYouMean(close)),
            close.empty() ? "node ids: " + JoinSome(NodeIds()) : "");
    }
    if (!node.spec) return;
    const NodeTypeSpec& spec = *node.spec;
    const std::string base = node.json_path + ".inputs";
    if (!spec.open_inputs) {
      for (auto it = node.inputs.begin(); it != node.inputs.end(); ++it) {
        const InputSpec* input = spec.FindInput(it.key());
        if (!input) {
          std::vector<std::string> names;
          for (const auto& i : spec.inputs) names.push_back(i.name);
          std::string close = ClosestMatch(it.key(), names);
          Error(node, JsonPathMember(base, it.key()),
                fmt::format("{} has no input {}{}", spec.name, Quote(it.key()), DidYouMean(close)),
                fmt::format("its inputs: {}", JoinSome(names, 20)));
          continue;
        }
        CheckInput(node, *input, it.value(), JsonPathMember(base, it.key()));
      }
      for (const auto& input : spec.inputs) {
        if (input.required && !node.inputs.contains(input.name))
          Error(node, base, fmt::format("missing required input {} ({})", Quote(input.name), input.doc),
                fmt::format("add \"{}\": ... to inputs", input.name));
        else if (input.required && input.type == ValueType::kString)
          CheckNotBlank(node, input.name, JsonPathMember(base, input.name));
      }
      if (!spec.one_of_required.empty()) {
        bool any = false, any_filled = false;
        std::string first_blank;
        for (const auto& name : spec.one_of_required) {
          if (!node.inputs.contains(name)) continue;
          any = true;
          if (!BlankText(node.inputs[name]))
            any_filled = true;
          else if (first_blank.empty())
            first_blank = name;
        }
        if (!any)
          Error(node, base,
                fmt::format("{} needs one of these inputs: {}", spec.name, fmt::join(spec.one_of_required, ", ")));
        else if (!any_filled)  // every one given would be empty
          CheckNotBlank(node, first_blank, JsonPathMember(base, first_blank));
      }
      CheckSpecifics(node);
    }
    if (node.declared_outputs.empty()) return;
    bool open = false;
    std::vector<std::string> outputs = KnownOutputs(node, &open);
    for (size_t i = 0; i < node.declared_outputs.size() && !open; ++i) {
      const std::string& name = node.declared_outputs[i];
      if (std::find(outputs.begin(), outputs.end(), name) != outputs.end()) continue;
      std::string close = ClosestMatch(name, outputs);
      Error(node, fmt::format("{}.outputs[{}]", node.json_path, i),
            fmt::format("{} has no output {}{}", spec.name, Quote(name), DidYouMean(close)),
            fmt::format("its outputs: {}", JoinSome(outputs, 20)));
    }
  }
};

}  // namespace

ValueType ReferenceType(const Workflow& wf, const Reference& ref) {
  if (ref.root == "params") {
    if (ref.steps.size() != 1 || ref.steps[0].is_index() || !wf.params.contains(ref.steps[0].field()))
      return ValueType::kAny;
    const Json& v = wf.params[ref.steps[0].field()];
    return v.is_string() ? ValueType::kString : LiteralType(v);
  }
  if (ref.root == "run") return ValueType::kString;
  const WorkflowNode* target = wf.Find(ref.root);
  if (!target || !target->spec || ref.steps.size() != 1 || ref.steps[0].is_index()) return ValueType::kAny;
  // A value node's outputs are its inputs: their type is known when they are literals.
  if (target->spec->open_outputs == OpenOutputs::kFromInputs && target->inputs.contains(ref.steps[0].field()))
    return LiteralType(target->inputs[ref.steps[0].field()]);
  for (const auto& o : target->spec->outputs)
    if (o.name == ref.steps[0].field()) return o.type;
  return ValueType::kAny;
}

bool ValidateWorkflow(Workflow* wf, std::vector<Diagnostic>* diags) {
  size_t errors_before = CountErrors(*diags);
  Checker checker{*wf, diags};
  for (const auto& node : wf->nodes) checker.CheckNode(node);
  std::vector<size_t> cycle = FindCycle(wf->deps);
  if (!cycle.empty()) {
    std::vector<std::string> names;
    for (size_t i : cycle) names.push_back(wf->nodes[i].id);
    const WorkflowNode& first = wf->nodes[cycle[0]];
    AddError(diags, wf->file, first.id, first.json_path, fmt::format("cycle: {}", fmt::join(names, " -> ")),
             "a node cannot wait, directly or through others, for its own outputs");
  }
  return CountErrors(*diags) == errors_before;
}

}  // namespace comfyrun
