// The rows of a batch (batch/rows.h): typing, the --sweep product, the slice and the keys.
#include "comfyrun/batch/rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "comfyrun/core/template.h"
#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

/// At most this many errors about rows are shown: a wrong column in a 10,000-row file would
/// otherwise print 10,000 lines saying the same thing.
constexpr size_t kMaxRowErrors = 20;

std::string Where(const std::string& file, int line, int col) { return fmt::format("{}:{}:{}", file, line, col); }

std::vector<std::string> Names(const Json& declared) {
  std::vector<std::string> names;
  for (auto it = declared.begin(); it != declared.end(); ++it) names.push_back(it.key());
  return names;
}

std::string Undeclared(const std::string& name, const Json& declared) {
  std::string close = ClosestMatch(name, Names(declared));
  return fmt::format("the workflow declares no param {}{}", Quote(name),
                     close.empty() ? "" : fmt::format("; did you mean '{}'?", close));
}

/// A JSON value given for a param, checked against the param's default.
bool TypeParamValue(const Json& value, const Json& default_value, std::string* err) {
  if (default_value.is_null() || value.is_null()) return true;
  bool ok = (default_value.is_string() && value.is_string()) || (default_value.is_number() && value.is_number()) ||
            (default_value.is_boolean() && value.is_boolean()) || (default_value.is_array() && value.is_array()) ||
            (default_value.is_object() && value.is_object());
  if (!ok)
    *err = fmt::format("expected {} like its default {}, got {}", default_value.type_name(),
                       Abbreviate(default_value.dump(), 60), Abbreviate(value.dump(), 60));
  return ok;
}

}  // namespace

bool TypeParamText(const std::string& text, const Json& default_value, Json* out, std::string* err) {
  if (default_value.is_string()) {
    *out = text;
    return true;
  }
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (default_value.is_null()) {
    *out = parsed.is_discarded() || parsed.is_string() || parsed.is_null() ? Json(text) : parsed;
    return true;
  }
  if (parsed.is_discarded() || !TypeParamValue(parsed, default_value, err) || parsed.is_null()) {
    *err = fmt::format("expected {} like its default {}, got {}", default_value.type_name(),
                       Abbreviate(default_value.dump(), 60), Quote(text));
    return false;
  }
  *out = parsed;
  return true;
}

bool ParseSweep(const std::string& arg, const Json& declared, SweepAxis* out, std::string* err) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) {
    *err = fmt::format("--sweep {}: expected NAME=v1,v2,...", Quote(arg));
    return false;
  }
  out->name = arg.substr(0, eq);
  if (!declared.contains(out->name)) {
    *err = fmt::format("--sweep {}: {}", out->name, Undeclared(out->name, declared));
    return false;
  }
  // Values are split at commas; a value with a comma belongs in a ROWS file.
  std::string rest = arg.substr(eq + 1);
  size_t start = 0;
  while (true) {
    size_t comma = rest.find(',', start);
    std::string text = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    Json value;
    std::string type_err;
    if (!TypeParamText(text, declared[out->name], &value, &type_err)) {
      *err = fmt::format("--sweep {}: value {}: {}", out->name, Quote(text), type_err);
      return false;
    }
    out->values.push_back(std::move(value));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

bool ParseRowRange(const std::string& arg, int* first, int* last, std::string* err) {
  auto number = [](const std::string& s, int* n) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *n = std::stoi(s);
    return *n >= 1;
  };
  size_t dash = arg.find('-');
  std::string a = arg.substr(0, dash), b = dash == std::string::npos ? a : arg.substr(dash + 1);
  *first = 0;
  *last = 0;
  bool ok = number(a, first) && (b.empty() || number(b, last)) && (*last == 0 || *last >= *first);
  if (!ok) *err = fmt::format("--rows {}: expected A-B, A- or A with 1 <= A <= B (rows count from 1)", Quote(arg));
  return ok;
}

std::string SafeRowKey(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (out.size() >= 64) break;
    bool keep = isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += keep ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

bool BuildBatchRows(const RowTable* table, const Json& declared, const Json& given, const RowSelection& selection,
                    std::vector<BatchRow>* rows, std::vector<Diagnostic>* diags) {
  const size_t errors_before = CountErrors(*diags);
  auto too_many = [&] { return CountErrors(*diags) - errors_before >= kMaxRowErrors; };
  // Where a param's field is empty in a row (for the error about a required param).
  struct Base {
    Json params = Json::object();
    int line = 0;
    std::map<std::string, std::pair<int, int>> empty_at;
  };
  std::vector<Base> bases;
  std::set<std::string> columns, undeclared;
  if (table) {
    for (const auto& row : table->rows) {
      Base base;
      base.line = row.line;
      for (const auto& cell : row.cells) {
        if (too_many()) break;
        columns.insert(cell.column);
        if (!declared.contains(cell.column)) {
          if (!undeclared.insert(cell.column).second) continue;  // once per column
          int line = cell.line, col = cell.col;
          for (const auto& h : table->header)
            if (h.column == cell.column) line = h.line, col = h.col;
          AddError(diags, Where(table->file, line, col), "", "",
                   fmt::format("column {}: {}", Quote(cell.column), Undeclared(cell.column, declared)),
                   "the columns are the workflow's params (\"params\" in the workflow)");
          continue;
        }
        if (cell.value.is_null()) {  // an empty CSV field: not given
          base.empty_at[cell.column] = {cell.line, cell.col};
          continue;
        }
        std::string err;
        Json value = cell.value;
        bool ok = cell.text ? TypeParamText(cell.value.get<std::string>(), declared[cell.column], &value, &err)
                            : TypeParamValue(cell.value, declared[cell.column], &err);
        if (!ok) {
          AddError(diags, Where(table->file, cell.line, cell.col), "", "",
                   fmt::format("param {}: {}", Quote(cell.column), err));
          continue;
        }
        base.params[cell.column] = std::move(value);
      }
      bases.push_back(std::move(base));
    }
    if (table->rows.empty()) AddError(diags, table->file, "", "", "no rows: the file has no row below its header");
  } else {
    bases.emplace_back();
  }
  std::set<std::string> swept;
  for (const auto& axis : selection.sweeps) {
    if (columns.count(axis.name))
      AddError(diags, "", "", "",
               fmt::format("--sweep {}: {} is also a column of {}; give it in one place", axis.name, Quote(axis.name),
                           table->file));
    if (!swept.insert(axis.name).second)
      AddError(diags, "", "", "", fmt::format("--sweep {} is given twice; list every value in one --sweep", axis.name));
  }
  if (CountErrors(*diags) > errors_before) return false;

  // The product: each base row with every combination of the sweeps, the last varying fastest.
  size_t combos = 1;
  for (const auto& axis : selection.sweeps) combos *= axis.values.size();
  std::vector<BatchRow> all;
  for (const auto& base : bases) {
    for (size_t c = 0; c < combos; ++c) {
      BatchRow row;
      row.params = base.params;
      row.line = base.line;
      std::vector<size_t> at(selection.sweeps.size());
      size_t rest = c;
      for (size_t a = selection.sweeps.size(); a-- > 0;) {
        at[a] = rest % selection.sweeps[a].values.size();
        rest /= selection.sweeps[a].values.size();
      }
      for (size_t a = 0; a < selection.sweeps.size(); ++a)
        row.params[selection.sweeps[a].name] = selection.sweeps[a].values[at[a]];
      row.number = static_cast<int>(all.size()) + 1;
      // Required params (a null default) need a value in every row, unless --param gave one.
      for (auto it = declared.begin(); it != declared.end() && !too_many(); ++it) {
        if (!it.value().is_null() || row.params.contains(it.key()) || given.contains(it.key())) continue;
        if (!table) {
          AddError(diags, "", "", "",
                   fmt::format("param {} is required (its default is null) and has no value", Quote(it.key())),
                   fmt::format("give it with --sweep {}=..., --param {}=... or a column of ROWS", it.key(), it.key()));
          continue;
        }
        auto empty = base.empty_at.find(it.key());
        std::string where = empty != base.empty_at.end() ? Where(table->file, empty->second.first, empty->second.second)
                                                         : Where(table->file, base.line, 1);
        AddError(diags, where, "", "",
                 fmt::format("row {}: param {} is required (its default is null) and has no value", row.number,
                             Quote(it.key())),
                 empty != base.empty_at.end() ? "fill in the field" : fmt::format("add a column {}", it.key()));
      }
      all.push_back(std::move(row));
    }
  }
  if (CountErrors(*diags) > errors_before) return false;

  // The slice: --rows first, then --limit.
  int count = static_cast<int>(all.size());
  int first = selection.first > 0 ? selection.first : 1;
  int last = selection.last > 0 ? std::min(selection.last, count) : count;
  if (first > count) {
    AddError(diags, "", "", "", fmt::format("--rows starts at row {} but the batch has {} rows", first, count));
    return false;
  }
  if (selection.limit > 0) last = std::min(last, first + selection.limit - 1);
  rows->clear();
  std::set<std::string> keys;
  if (!selection.key_column.empty() && !declared.contains(selection.key_column)) {
    AddError(diags, "", "", "",
             fmt::format("--key {}: {}", selection.key_column, Undeclared(selection.key_column, declared)));
    return false;
  }
  for (int n = first; n <= last; ++n) {
    BatchRow row = std::move(all[n - 1]);
    std::string key = std::to_string(row.number);
    if (!selection.key_column.empty()) {
      const Json* v = row.params.contains(selection.key_column) ? &row.params[selection.key_column]
                      : given.contains(selection.key_column)    ? &given[selection.key_column]
                                                                : nullptr;
      if (v && !v->is_null() && !(v->is_string() && v->get<std::string>().empty())) key = SafeRowKey(TemplateText(*v));
    }
    // Unique: a second "Alice" becomes "Alice-2" (and so on).
    std::string unique = key;
    for (int k = 2; keys.count(unique); ++k) unique = fmt::format("{}-{}", key, k);
    keys.insert(unique);
    row.key = unique;
    rows->push_back(std::move(row));
  }
  return true;
}

Json RowsToJson(const std::vector<BatchRow>& rows) {
  Json out = Json::array();
  for (const auto& r : rows)
    out.push_back({{"number", r.number}, {"key", r.key}, {"line", r.line}, {"params", r.params}});
  return out;
}

bool RowsFromJson(const Json& value, std::vector<BatchRow>* rows, std::string* err) {
  if (!value.is_array() || value.empty()) {
    *err = "$.batch.rows: expected a non-empty array of rows";
    return false;
  }
  std::set<std::string> keys;
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& r = value[i];
    std::string path = fmt::format("$.batch.rows[{}]", i);
    if (!r.is_object() || !r.contains("key") || !r["key"].is_string() || !r.contains("params") ||
        !r["params"].is_object() || !r.contains("number") || !r["number"].is_number_integer()) {
      *err = path + ": expected {\"number\": N, \"key\": \"...\", \"params\": {...}}";
      return false;
    }
    BatchRow row;
    row.number = r["number"].get<int>();
    row.key = r["key"].get<std::string>();
    row.line = r.value("line", 0);
    row.params = r["params"];
    if (SafeRowKey(row.key) != row.key || !keys.insert(row.key).second) {
      *err = fmt::format("{}.key: {} is not a safe, unique folder name", path, Quote(row.key));
      return false;
    }
    rows->push_back(std::move(row));
  }
  return true;
}

}  // namespace comfyrun
