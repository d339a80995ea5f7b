#pragma once
// The rows of `comfyrun batch WORKFLOW ROWS`: reading them (CSV with a header through libcsv,
// or JSON lines), typing each field against the workflow's param defaults, the --sweep
// product, the --rows/--limit slice and the row keys that name each row's folder.
//
// Every problem is a Diagnostic whose file is "ROWS:LINE:COLUMN" (1-based; the column counts
// UTF-8 characters), found before anything runs; the caller exits 2.
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/json.h"

namespace comfyrun {

/// One field as read: CSV text (typed later) or a JSON value, with where it starts.
struct RowCell {
  std::string column;
  Json value;        ///< a string for CSV
  bool text = true;  ///< CSV text, typed like --param; false: a JSON value, typed as it is
  int line = 0, col = 0;
};

/// A rows file as read, before typing.
struct RowTable {
  std::string file;
  std::string sha256;  ///< of the file's bytes
  struct Row {
    int line = 0;  ///< where the row starts
    std::vector<RowCell> cells;
  };
  std::vector<Row> rows;
  std::vector<RowCell> header;  ///< CSV: the column names where the header has them
};

/// CSV text: a header line of column names, then one row per record (RFC 4180: quoted fields
/// may hold commas, quotes written twice and newlines). An optional UTF-8 BOM is skipped;
/// bytes that are not UTF-8 are an error. An empty unquoted field is a field not given.
bool ParseCsvRows(const std::string& text, const std::string& file, RowTable* out, std::vector<Diagnostic>* diags);
/// JSON lines: one object per line (blank lines skipped), its members the row's params.
bool ParseJsonLinesRows(const std::string& text, const std::string& file, RowTable* out,
                        std::vector<Diagnostic>* diags);
/// Reads a rows file: JSON lines for *.jsonl / *.ndjson or text starting with '{', else CSV.
bool ReadRowsFile(const std::string& path, RowTable* out, std::vector<Diagnostic>* diags);

/// --sweep NAME=v1,v2,...: a param and its values (typed like --param).
struct SweepAxis {
  std::string name;
  std::vector<Json> values;
};

/// What the command line says about the rows beyond the file.
struct RowSelection {
  std::vector<SweepAxis> sweeps;  ///< in command-line order; the last varies fastest
  int first = 0, last = 0;        ///< --rows A-B (1-based, inclusive); 0 = from the start / to the end
  int limit = 0;                  ///< --limit N; 0 = no limit
  std::string key_column;         ///< --key COLUMN; "" = the row number
};

/// One row of the batch.
struct BatchRow {
  int number = 0;                ///< 1-based position in the full product, before the slice
  std::string key;               ///< names runs/<runId>/<key>/: safe for a file name, unique
  Json params = Json::object();  ///< the values this row sets (fields and sweep values), typed
  int line = 0;                  ///< the rows file's line; 0 for a sweep without ROWS
};

/// Parses "NAME=v1,v2" against the declared params ({name: default}). False with *err.
bool ParseSweep(const std::string& arg, const Json& declared, SweepAxis* out, std::string* err);
/// Parses "A-B", "A-" or "A" (1-based). False with *err.
bool ParseRowRange(const std::string& arg, int* first, int* last, std::string* err);

/// Converts a field's text to the type of the param's default (a null default: JSON numbers,
/// booleans, arrays and objects as such, anything else a string). False with *err.
bool TypeParamText(const std::string& text, const Json& default_value, Json* out, std::string* err);

/// The rows of the batch: `table` (null without ROWS) crossed with the sweeps, each typed
/// against `declared` (the workflow's params: name -> default, null = required), sliced, and
/// keyed. `given`: params set for every row on the command line (--param), which satisfy a
/// required param. False with diagnostics naming the file, line and column.
bool BuildBatchRows(const RowTable* table, const Json& declared, const Json& given, const RowSelection& selection,
                    std::vector<BatchRow>* rows, std::vector<Diagnostic>* diags);

/// A value made safe for a file name: letters, digits, '.', '_' and '-' kept, others '_',
/// at most 64 bytes, never "", "." or "..".
std::string SafeRowKey(const std::string& value);

/// The row keys as JSON (batch header) and back.
Json RowsToJson(const std::vector<BatchRow>& rows);
bool RowsFromJson(const Json& value, std::vector<BatchRow>* rows, std::string* err);

}  // namespace comfyrun
