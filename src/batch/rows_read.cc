// Reading a rows file (batch/rows.h): CSV through libcsv, or JSON lines. Only the reading:
// typing the values against the workflow's params is rows.cc's.
#include <csv.h>
#include <fmt/format.h>

#include <algorithm>

#include "comfyrun/batch/rows.h"
#include "comfyrun/core/util.h"

// Implementation details: libcsv reports a field only when the byte after it (a comma or a
// line end) is parsed, and never says where it was. The text is therefore given to it one
// byte at a time, so that each field's first byte is known: that is what lets every error
// name a line and a column. (A 10,000-row file is 0.5 M calls of a few instructions.)

namespace comfyrun {
namespace {

/// Byte offsets to "line:column" (1-based; columns count UTF-8 characters).
class Positions {
 public:
  explicit Positions(const std::string& text) : text_(text) {
    starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') starts_.push_back(i + 1);
  }
  void At(size_t offset, int* line, int* col) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    size_t start = *(it - 1);
    *line = static_cast<int>(it - starts_.begin());
    int c = 1;
    for (size_t i = start; i < offset && i < text_.size(); ++i)
      c += (static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80;
    *col = c;
  }

 private:
  const std::string& text_;
  std::vector<size_t> starts_;
};

std::string Where(const std::string& file, int line, int col) { return fmt::format("{}:{}:{}", file, line, col); }

/// The offset of the first byte that is not part of valid UTF-8, or npos.
size_t FirstBadUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += n;
  }
  return std::string::npos;
}

/// Skips a UTF-8 BOM; false (with an error) when the rest is not UTF-8.
bool CheckText(const std::string& text, const std::string& file, size_t* begin, std::vector<Diagnostic>* diags) {
  *begin = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  size_t bad = FirstBadUtf8(text.substr(*begin));
  if (bad == std::string::npos) return true;
  int line = 0, col = 0;
  Positions(text).At(*begin + bad, &line, &col);
  AddError(diags, Where(file, line, col), "", "",
           fmt::format("byte 0x{:02X} is not UTF-8", static_cast<unsigned char>(text[*begin + bad])),
           "save the file as UTF-8");
  return false;
}

struct CsvState {
  const Positions* positions;
  size_t offset = 0;  // of the byte being parsed
  size_t field_start = 0;
  bool pending_start = true;
  std::vector<RowCell> fields;
  bool field_missing_value = false;
  std::vector<std::vector<RowCell>> records;
};

void OnField(void* data, size_t len, void* state_ptr) {
  auto* st = static_cast<CsvState*>(state_ptr);
  RowCell cell;
  if (st->pending_start) st->field_start = st->offset;  // an empty field right at a separator
  st->positions->At(st->field_start, &cell.line, &cell.col);
  // CSV_EMPTY_IS_NULL: an empty unquoted field is null (not given); "" is an empty string.
  cell.value = data ? Json(std::string(static_cast<const char*>(data), len)) : Json();
  st->fields.push_back(std::move(cell));
  st->pending_start = true;
}

void OnRecord(int, void* state_ptr) {
  auto* st = static_cast<CsvState*>(state_ptr);
  st->records.push_back(std::move(st->fields));
  st->fields.clear();
  st->pending_start = true;
}

int NoSpace(unsigned char) { return 0; }  // RFC 4180: spaces are part of a field

}  // namespace

bool ParseCsvRows(const std::string& text, const std::string& file, RowTable* out, std::vector<Diagnostic>* diags) {
  out->file = file;
  size_t begin = 0;
  if (!CheckText(text, file, &begin, diags)) return false;
  Positions positions(text);
  csv_parser parser{};
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0) {
    AddError(diags, file, "", "", "cannot start the CSV parser (out of memory)");
    return false;
  }
  csv_set_space_func(&parser, NoSpace);
  CsvState st;
  st.positions = &positions;
  bool ok = true;
  for (size_t i = begin; i < text.size(); ++i) {
    st.offset = i;
    char c = text[i];
    if (st.pending_start && c != '\r' && c != '\n') {
      st.field_start = i;
      st.pending_start = false;
    }
    if (csv_parse(&parser, &text[i], 1, OnField, OnRecord, &st) != 1) {
      int line = 0, col = 0;
      positions.At(i, &line, &col);
      AddError(diags, Where(file, line, col), "", "", fmt::format("bad CSV: {}", csv_strerror(csv_error(&parser))),
               "a field with a quote is written in quotes with the quote doubled: \"say \"\"hi\"\"\"");
      ok = false;
      break;
    }
  }
  st.offset = text.size();
  if (ok && csv_fini(&parser, OnField, OnRecord, &st) != 0) {
    int line = 0, col = 0;
    positions.At(st.field_start, &line, &col);
    AddError(diags, Where(file, line, col), "", "", "bad CSV: a quoted field is not closed");
    ok = false;
  }
  csv_free(&parser);
  if (!ok) return false;
  if (st.records.empty()) {
    AddError(diags, file, "", "", "no header line: the first line names the columns (the workflow's params)");
    return false;
  }
  const std::vector<RowCell>& header = st.records[0];
  std::vector<std::string> names;
  for (const auto& h : header) {
    std::string name = h.value.is_string() ? h.value.get<std::string>() : "";
    if (name.empty())
      AddError(diags, Where(file, h.line, h.col), "", "", "empty column name in the header");
    else if (std::find(names.begin(), names.end(), name) != names.end())
      AddError(diags, Where(file, h.line, h.col), "", "", fmt::format("column {} appears twice", Quote(name)));
    names.push_back(name);
    out->header.push_back(h);
    out->header.back().column = name;
  }
  for (size_t r = 1; r < st.records.size(); ++r) {
    auto& fields = st.records[r];
    RowTable::Row row;
    row.line = fields.empty() ? 0 : fields[0].line;
    if (fields.size() != names.size()) {
      const RowCell& at = fields.size() > names.size() ? fields[names.size()] : fields.back();
      AddError(diags, Where(file, at.line, at.col), "", "",
               fmt::format("the row has {} fields, the header {}", fields.size(), names.size()));
      continue;
    }
    for (size_t k = 0; k < fields.size(); ++k) {
      fields[k].column = names[k];
      fields[k].text = true;
      row.cells.push_back(std::move(fields[k]));
    }
    out->rows.push_back(std::move(row));
  }
  return CountErrors(*diags) == 0;
}

bool ParseJsonLinesRows(const std::string& text, const std::string& file, RowTable* out,
                        std::vector<Diagnostic>* diags) {
  out->file = file;
  size_t begin = 0;
  if (!CheckText(text, file, &begin, diags)) return false;
  int line_no = 0;
  size_t pos = begin;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) continue;
    Json value;
    try {
      value = Json::parse(line);
    } catch (const Json::parse_error& e) {
      Positions p(line);
      int l = 0, col = 0;
      p.At(e.byte > 0 ? e.byte - 1 : 0, &l, &col);
      AddError(diags, Where(file, line_no, col), "", "", "not a JSON object: the line is not valid JSON",
               "one object per line: {\"name\": \"value\", ...}");
      continue;
    }
    if (!value.is_object()) {
      AddError(diags, Where(file, line_no, 1), "", "", fmt::format("expected a JSON object, got {}", value.type_name()),
               "one object per line: {\"name\": \"value\", ...}");
      continue;
    }
    Positions p(line);
    RowTable::Row row;
    row.line = line_no;
    for (auto it = value.begin(); it != value.end(); ++it) {
      RowCell cell;
      cell.column = it.key();
      cell.value = it.value();
      cell.text = false;
      cell.line = line_no;
      size_t at = line.find(Json(it.key()).dump());
      int l = 0;
      p.At(at == std::string::npos ? 0 : at, &l, &cell.col);
      row.cells.push_back(std::move(cell));
    }
    out->rows.push_back(std::move(row));
  }
  return CountErrors(*diags) == 0;
}

bool ReadRowsFile(const std::string& path, RowTable* out, std::vector<Diagnostic>* diags) {
  std::string text, err;
  if (!ReadFile(path, &text, &err)) {
    AddError(diags, path, "", "", fmt::format("cannot read the rows: {}", err));
    return false;
  }
  out->sha256 = Sha256Hex(text);
  size_t first = text.find_first_not_of(" \t\r\n", text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0);
  bool json_lines = EndsWith(path, ".jsonl") || EndsWith(path, ".ndjson") ||
                    (!EndsWith(path, ".csv") && first != std::string::npos && text[first] == '{');
  return json_lines ? ParseJsonLinesRows(text, path, out, diags) : ParseCsvRows(text, path, out, diags);
}

}  // namespace comfyrun
