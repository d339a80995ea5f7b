// A batch as one workflow (batch/expand.h).
#include "comfyrun/batch/expand.h"

#include <fmt/format.h>

#include <set>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/template_rewrite.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"

namespace comfyrun {
namespace {

/// "row<N>__": the prefix of a row's node aliases and param keys. Both are names a template
/// can hold; neither can be a node id of the batch (those hold a '/').
std::string RowPrefix(const BatchRow& row) { return fmt::format("row{}__", row.number); }

bool HasTemplateSyntax(const std::string& text) {
  return text.find("<<") != std::string::npos || text.find("{{") != std::string::npos;
}

class RowRewriter {
 public:
  RowRewriter(const Workflow& base, const BatchRow& row, const Json& params, std::set<std::string>* used_params)
      : base_(base), prefix_(RowPrefix(row)), params_(params), used_params_(used_params) {}

  Json Rewrite(const Json& value) const {
    if (value.is_string()) return RewriteString(value);
    if (value.is_array()) {
      Json out = Json::array();
      for (const auto& item : value) out.push_back(Rewrite(item));
      return out;
    }
    if (value.is_object()) {
      Json out = Json::object();
      for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = Rewrite(it.value());
      return out;
    }
    return value;
  }

 private:
  Json RewriteString(const Json& value) const {
    const std::string& s = value.get_ref<const std::string&>();
    if (!HasTemplateSyntax(s)) return value;
    // A whole input that is one <<params.X>> takes the row's value itself, unless the value
    // holds template syntax (the executor would read it as a template).
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    FindReferences(value, "", &refs, &errors);
    if (refs.size() == 1 && refs[0].text == s && refs[0].root == "params" && refs[0].steps.size() == 1 &&
        !refs[0].steps[0].is_index()) {
      auto it = params_.find(refs[0].steps[0].field());
      if (it != params_.end() && !HasTemplateSyntax(it->dump())) return *it;
    }
    return RewriteTemplates(value, [this](Reference* ref) { return Rename(ref); });
  }

  bool Rename(Reference* ref) const {
    if (ref->root == "params") {
      if (ref->steps.empty() || ref->steps[0].is_index()) return false;
      used_params_->insert(ref->steps[0].field());
      ref->steps[0].key = prefix_ + ref->steps[0].field();
      return true;
    }
    if (ref->root == "run" || !base_.index.count(ref->root)) return false;
    ref->root = prefix_ + ref->root;
    return true;
  }

  const Workflow& base_;
  std::string prefix_;
  const Json& params_;
  std::set<std::string>* used_params_;
};

}  // namespace

std::string BatchNodeId(const std::string& row_key, const std::string& node_id) { return row_key + "/" + node_id; }

void ExpandBatch(const Workflow& base, const std::vector<BatchRow>& rows, Workflow* out) {
  out->file = base.file;
  out->workflow_id = base.workflow_id;
  out->description = base.description;
  out->metadata = base.metadata;
  out->pools = base.pools;
  out->params = base.params;
  const size_t n = base.nodes.size();
  out->nodes.clear();
  out->nodes.reserve(n * rows.size());
  out->deps.clear();
  out->deps.reserve(n * rows.size());
  out->index.clear();
  out->index.reserve(2 * n * rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const BatchRow& row = rows[r];
    const std::string prefix = RowPrefix(row);
    // This row's values of every param: its own, else the batch's (defaults and --param).
    Json params = base.params;
    for (auto it = row.params.begin(); it != row.params.end(); ++it) params[it.key()] = it.value();
    std::set<std::string> used;
    RowRewriter rewriter(base, row, params, &used);
    const size_t offset = r * n;
    for (size_t k = 0; k < n; ++k) {
      WorkflowNode node = base.nodes[k];
      node.id = BatchNodeId(row.key, base.nodes[k].id);
      node.inputs = rewriter.Rewrite(base.nodes[k].inputs);
      node.references.clear();
      std::vector<std::pair<std::string, std::string>> errors;  // none: the base was valid
      FindReferences(node.inputs, node.json_path + ".inputs", &node.references, &errors);
      for (auto& dep : node.depends_on) dep = BatchNodeId(row.key, dep);
      std::vector<size_t> deps = base.deps[k];
      for (auto& d : deps) d += offset;
      out->index[node.id] = offset + k;
      out->index[prefix + base.nodes[k].id] = offset + k;
      out->nodes.push_back(std::move(node));
      out->deps.push_back(std::move(deps));
    }
    // Only the params a template still names get a key of their own. Appended to the object's
    // vector without the ordered map's search for an existing key, which is linear: 10,000
    // rows would cost 10,000^2 / 2 comparisons, and the keys are unique by construction.
    auto& keys = out->params.get_ref<Json::object_t&>();
    for (const auto& name : used)
      if (params.contains(name)) keys.Json::object_t::Container::emplace_back(prefix + name, params[name]);
  }
}

Json EncodeBatchManifest(const std::vector<BatchRow>& rows, const BatchSource& source) {
  Json manifest = Json::object();
  manifest["rowsFile"] = source.rows_file;
  manifest["rowsFileSha256"] = source.rows_sha256;
  manifest["sweeps"] = source.sweeps;
  manifest["key"] = source.key_column;
  manifest["slice"] = source.slice;
  manifest["rows"] = RowsToJson(rows);
  std::string text;
  AppendJson(&text, manifest["rows"]);
  manifest["rowsHash"] = Sha256Hex(text);
  return manifest;
}

bool DecodeBatchRows(const Json& header, std::vector<BatchRow>* rows, std::string* err) {
  const Json* batch = header.is_object() && header.contains("batch") ? &header["batch"] : nullptr;
  if (!batch || !batch->is_object()) {
    *err = "$.batch: expected the batch (an object)";
    return false;
  }
  return RowsFromJson(batch->value("rows", Json()), rows, err);
}

bool BatchResumeWorkflow(const Json& header, const std::string& file, const std::vector<ParamOverride>& params,
                         Workflow* out, std::vector<Diagnostic>* diags, std::string* hash_error) {
  std::vector<BatchRow> rows;
  std::string err;
  if (!DecodeBatchRows(header, &rows, &err)) {
    AddError(diags, file, "", "", "damaged journal header: " + err);
    return false;
  }
  const Json& batch = header["batch"];
  if (batch.contains("rowsHash") && batch["rowsHash"].is_string()) {
    std::string text;
    AppendJson(&text, batch["rows"]);
    if (Sha256Hex(text) != batch["rowsHash"].get<std::string>())
      *hash_error = "$.batch.rowsHash: the header's rows do not match their hash: the journal was edited or damaged";
  }
  Workflow base;
  if (!BuildWorkflow(header.value("workflow", Json()), file, params, &base, diags) || !ValidateWorkflow(&base, diags))
    return false;
  ExpandBatch(base, rows, out);
  out->document = std::move(base.document);
  return ValidateWorkflow(out, diags);
}

}  // namespace comfyrun
