#include "comfyrun/run/header.h"

#include <fmt/format.h>

#include <cmath>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/util.h"
#include "comfyrun/run/layout.h"

namespace comfyrun {
namespace {

/// A value as a message shows it: short, and never more than a line.
std::string Shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

/// Checks fields of one JSON object and remembers the first problem with its JSON path.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string path, std::string* err)
      : obj_(object), path_(std::move(path)), err_(err) {}

  bool ok() const { return ok_; }
  /// The field, or null when absent (or when an earlier field failed).
  const Json* Find(std::string_view key) const {
    if (!ok_ || !obj_.is_object()) return nullptr;
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }
  std::string PathOf(std::string_view key) const { return JsonPathMember(path_, key); }
  /// Fails with a message of its own about the field: "$.key: <message>".
  bool FailWith(std::string_view key, std::string_view message) {
    if (ok_) {
      *err_ = fmt::format("{}: {}", PathOf(key), message);
      ok_ = false;
    }
    return false;
  }
  bool Fail(std::string_view key, std::string_view expected, const Json* found) {
    if (ok_) {
      *err_ = found ? fmt::format("{}: expected {}, found {}", PathOf(key), expected, Shown(*found))
                    : fmt::format("{}: missing ({} expected)", PathOf(key), expected);
      ok_ = false;
    }
    return false;
  }

  bool String(std::string_view key, bool required, std::string* out) {
    const Json* v = Find(key);
    if (!v) return !ok_ || !required || Fail(key, "a string", nullptr);
    if (!v->is_string()) return Fail(key, "a string", v);
    *out = v->get<std::string>();
    return true;
  }
  template <typename T>
  bool OptionalString(std::string_view key, std::optional<T>* out) {
    std::string s;
    if (!Find(key)) return ok_;
    if (!String(key, true, &s)) return false;
    *out = s;
    return true;
  }
  bool Bool(std::string_view key, std::optional<bool>* out) {
    const Json* v = Find(key);
    if (!v) return ok_;
    if (!v->is_boolean()) return Fail(key, "true or false", v);
    *out = v->get<bool>();
    return true;
  }
  bool Int(std::string_view key, int64_t lo, int64_t hi, std::optional<int64_t>* out) {
    const Json* v = Find(key);
    if (!v) return ok_;
    std::string expected = fmt::format("an integer from {} to {}", lo, hi);
    if (!v->is_number_integer()) return Fail(key, expected, v);
    int64_t n = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                                                                 : v->get<int64_t>();
    if (n < lo || n > hi) return Fail(key, expected, v);
    *out = n;
    return true;
  }
  bool Number(std::string_view key, std::optional<double>* out) {
    const Json* v = Find(key);
    if (!v) return ok_;
    if (!v->is_number() || !std::isfinite(v->get<double>())) return Fail(key, "a number", v);
    *out = v->get<double>();
    return true;
  }
  /// An object or array member that must have that kind when present.
  const Json* Kind(std::string_view key, bool required, Json::value_t kind, std::string_view expected) {
    const Json* v = Find(key);
    if (!v) {
      if (required && ok_) Fail(key, expected, nullptr);
      return nullptr;
    }
    if (v->type() != kind) {
      Fail(key, expected, v);
      return nullptr;
    }
    return v;
  }

 private:
  const Json& obj_;
  std::string path_;
  std::string* err_;
  bool ok_ = true;
};

bool DecodeOptions(const Json& options, HeaderOptions* out, std::string* err) {
  FieldReader r(options, "$.options", err);
  r.OptionalString("out", &out->out);
  std::optional<int64_t> jobs;
  if (r.Int("jobs", 1, 100000, &jobs) && jobs) out->jobs = static_cast<int>(*jobs);
  if (const Json* d = r.Find("durability")) {
    Durability durability;
    if (!d->is_string() || !ParseDurability(d->get<std::string>(), &durability))
      r.Fail("durability", "\"full\", \"batch\" or \"none\"", d);
    else
      out->durability = durability;
  }
  r.Bool("offline", &out->offline);
  r.Bool("failFast", &out->fail_fast);
  if (r.Number("maxCost", &out->max_cost) && out->max_cost && *out->max_cost < 0 && *out->max_cost != -1) {
    r.Fail("maxCost", "-1 (no limit) or a number >= 0", r.Find("maxCost"));
  }
  if (const Json* urls = r.Kind("comfyui", false, Json::value_t::array, "an array of URLs")) {
    std::vector<std::string> list;
    for (size_t i = 0; i < urls->size(); ++i) {
      if (!(*urls)[i].is_string()) {
        *err = fmt::format("$.options.comfyui[{}]: expected a URL string, found {}", i, Shown((*urls)[i]));
        return false;
      }
      list.push_back((*urls)[i].get<std::string>());
    }
    out->comfyui = std::move(list);
  }
  if (const Json* c = r.Find("cache")) {
    CacheMode mode;
    if (!c->is_string() || !ParseCacheMode(c->get<std::string>(), &mode))
      r.Fail("cache", "\"workflow\", \"on\" or \"off\"", c);
    else
      out->cache = mode;
  }
  return r.ok();
}

/// The A/B manifest, as far as `abtest` and `resume` read it back (abtest/runner.h writes it).
bool CheckAbManifest(const Json& manifest, std::string* err) {
  FieldReader r(manifest, "$.abtest", err);
  std::string s;
  r.String("testId", false, &s);
  r.String("description", false, &s);
  r.String("baseline", false, &s);
  if (const Json* scale = r.Find("qualityScale"); scale && !scale->is_null() && !scale->is_number())
    r.Fail("qualityScale", "a number or null", scale);
  const Json* variants = r.Kind("variants", true, Json::value_t::array, "an array of variants");
  const Json* runs = r.Kind("runs", false, Json::value_t::array, "an array of runs");
  if (!r.ok()) return false;
  for (size_t i = 0; i < variants->size(); ++i) {
    const Json& v = (*variants)[i];
    std::string path = fmt::format("$.abtest.variants[{}]", i);
    if (!v.is_object()) {
      *err = fmt::format("{}: expected an object, found {}", path, Shown(v));
      return false;
    }
    FieldReader vr(v, path, err);
    vr.String("variantId", true, &s);
    vr.String("workflowId", false, &s);
    std::optional<int64_t> repeats;
    vr.Int("repeats", 0, 1000000, &repeats);
    if (const Json* q = vr.Find("quality"); q && !q->is_null() && !q->is_string())
      vr.Fail("quality", "a reference string or null", q);
    const Json* nodes = vr.Kind("nodes", false, Json::value_t::array, "an array of nodes");
    if (!vr.ok()) return false;
    for (size_t k = 0; nodes && k < nodes->size(); ++k) {
      FieldReader nr((*nodes)[k], fmt::format("{}.nodes[{}]", path, k), err);
      if (!(*nodes)[k].is_object()) {
        *err = fmt::format("{}.nodes[{}]: expected an object, found {}", path, k, Shown((*nodes)[k]));
        return false;
      }
      nr.String("id", true, &s);
      nr.String("type", false, &s);
      if (!nr.ok()) return false;
    }
  }
  for (size_t i = 0; runs && i < runs->size(); ++i) {
    std::string path = fmt::format("$.abtest.runs[{}]", i);
    if (!(*runs)[i].is_object()) {
      *err = fmt::format("{}: expected an object, found {}", path, Shown((*runs)[i]));
      return false;
    }
    FieldReader rr((*runs)[i], path, err);
    rr.String("variantId", true, &s);
    std::optional<int64_t> repeat;
    rr.Int("repeat", 0, 1000000, &repeat);
    if (!rr.ok()) return false;
  }
  return true;
}

}  // namespace

Json EncodeHeaderOptions(const RunOptions& o) {
  return {{"out", AbsolutePath(o.out_dir)},
          {"jobs", o.jobs},
          {"durability", DurabilityName(o.durability)},
          {"offline", o.config.offline},
          {"failFast", o.fail_fast},
          {"maxCost", o.max_cost},
          {"comfyui", o.config.comfyui_servers},
          {"cache", CacheModeName(o.cache)}};
}

std::string HeaderHash(std::string_view workflow_text, std::string_view params_text) {
  std::string hashed;
  hashed.reserve(workflow_text.size() + params_text.size());
  hashed.append(workflow_text);
  hashed.append(params_text);
  return Sha256Hex(hashed);
}

Json EncodeHeader(Workflow* wf, const std::string& run_id, const RunOptions& options, Json abtest) {
  // The hash is of the same text dump() gives, written by AppendJson, several times faster.
  std::string workflow_text, params_text;
  AppendJson(&workflow_text, wf->document);
  AppendJson(&params_text, wf->params);
  Json header = Json::object();
  header["type"] = "header";
  header["format"] = kJournalFormat;
  header["runId"] = run_id;
  header["workflowId"] = wf->workflow_id;
  header["file"] = AbsolutePath(wf->file);
  header["workflow"] = std::move(wf->document);  // not copied: 100,000 nodes' document
  header["params"] = wf->params;
  header["hash"] = HeaderHash(workflow_text, params_text);
  header["options"] = EncodeHeaderOptions(options);
  header["comfyrun"] = COMFYRUN_VERSION;
  if (!abtest.is_null()) header["abtest"] = std::move(abtest);
  return header;
}

bool DecodeHeader(const Json& header, bool workflow_taken, JournalHeader* out, std::string* err) {
  if (!header.is_object()) {
    *err = "$: the header is not a JSON object";
    return false;
  }
  FieldReader r(header, "$", err);
  std::optional<int64_t> format;
  if (r.Int("format", 1, kJournalFormat, &format) && !format) r.Fail("format", "a format version", nullptr);
  if (format) out->format = static_cast<int>(*format);
  r.String("runId", true, &out->run_id);
  if (r.ok() && !IsPlainRunId(out->run_id))
    r.FailWith("runId", fmt::format("{} is not a plain name (letters, digits, '.', '_', '-'); the run id names "
                                    "folders under --out",
                                    Quote(out->run_id)));
  r.String("workflowId", true, &out->workflow_id);
  r.String("file", false, &out->file);
  if (!workflow_taken) {
    const Json* workflow = r.Kind("workflow", true, Json::value_t::object, "the workflow (an object)");
    if (workflow && workflow->contains("nodes") && !(*workflow)["nodes"].is_array()) {
      *err = fmt::format("$.workflow.nodes: expected an array of nodes, found {}", Shown((*workflow)["nodes"]));
      return false;
    }
  }
  if (const Json* params = r.Kind("params", false, Json::value_t::object, "an object of param values"))
    for (auto it = params->begin(); it != params->end(); ++it)
      out->params.push_back({it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump()});
  r.String("hash", false, &out->hash);
  r.String("comfyrun", false, &out->comfyrun_version);
  std::optional<double> t;
  r.Number("t", &t);
  const Json* options = r.Kind("options", false, Json::value_t::object, "an object of run options");
  const Json* abtest = r.Kind("abtest", false, Json::value_t::object, "the A/B test's manifest (an object)");
  const Json* batch = r.Kind("batch", false, Json::value_t::object, "the batch's rows (an object)");
  if (!r.ok()) return false;
  out->is_batch = batch != nullptr;
  if (options && !DecodeOptions(*options, &out->options, err)) return false;
  out->is_abtest = abtest != nullptr;
  if (abtest && !CheckAbManifest(*abtest, err)) return false;
  return true;
}

bool CheckHeaderHash(const Json& header, std::string_view workflow_text, std::string* err) {
  auto hash = header.find("hash");
  if (hash == header.end() || !hash->is_string()) return true;
  std::string params_text;
  auto params = header.find("params");
  AppendJson(&params_text, params == header.end() ? Json::object() : *params);
  std::string actual = HeaderHash(workflow_text, params_text);
  if (actual == hash->get<std::string>()) return true;
  *err = fmt::format(
      "$.hash: the header's workflow and params do not match its hash (recorded {}, now {}): "
      "the journal was edited or damaged",
      hash->get<std::string>().substr(0, 12), actual.substr(0, 12));
  return false;
}

bool ReadCheckedJournal(const std::string& path, const JournalReadOptions& options, JournalReplay* replay,
                        JournalHeader* header, std::string* err) {
  if (!ReadJournal(path, options, replay, err)) {
    *err = fmt::format("{}: {}", path, *err);
    return false;
  }
  // A reader's callback that took the workflow has checked the rest of the header already.
  if (!DecodeHeader(replay->header, !replay->header.contains("workflow") && options.on_header != nullptr, header,
                    err)) {
    *err = fmt::format("{}: damaged journal header: {}", path, *err);
    return false;
  }
  return true;
}

}  // namespace comfyrun
