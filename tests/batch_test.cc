// Batch: reading rows (CSV edge cases, JSON lines), typing them against param defaults, the
// sweep product, slices, keys, and the expansion into one workflow of rows x nodes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "comfyrun/batch/expand.h"
#include "comfyrun/batch/results.h"
#include "comfyrun/batch/rows.h"
#include "comfyrun/core/validate.h"

using namespace comfyrun;

namespace {

RowTable Csv(const std::string& text, std::vector<Diagnostic>* diags, bool expect_ok = true) {
  RowTable t;
  bool ok = ParseCsvRows(text, "rows.csv", &t, diags);
  CHECK(ok == expect_ok);
  return t;
}

std::string Cell(const RowTable& t, size_t row, size_t col) {
  return t.rows.at(row).cells.at(col).value.get<std::string>();
}

std::string FirstError(const std::vector<Diagnostic>& diags) { return diags.empty() ? "" : diags[0].Format(); }

const Json kDeclared = Json::parse(R"({"name": null, "style": "noir", "seed": 1, "hd": false})");

std::vector<BatchRow> Build(const std::string& csv, const RowSelection& sel, std::vector<Diagnostic>* diags,
                            bool expect_ok = true) {
  RowTable t;
  REQUIRE(ParseCsvRows(csv, "rows.csv", &t, diags));
  std::vector<BatchRow> rows;
  CHECK(BuildBatchRows(&t, kDeclared, Json::object(), sel, &rows, diags) == expect_ok);
  return rows;
}

}  // namespace

TEST_SUITE("Batch") {
  TEST_CASE("CSV: quotes, commas, doubled quotes and newlines inside fields") {
    std::vector<Diagnostic> diags;
    RowTable t = Csv("name,style\n\"Smith, Ann\",\"say \"\"hi\"\"\"\n\"two\nlines\",plain\n", &diags);
    REQUIRE(t.rows.size() == 2);
    CHECK(Cell(t, 0, 0) == "Smith, Ann");
    CHECK(Cell(t, 0, 1) == "say \"hi\"");
    CHECK(Cell(t, 1, 0) == "two\nlines");
    CHECK(t.rows[1].line == 3);
    CHECK(t.rows[1].cells[1].line == 4);  // after the embedded newline
    CHECK(t.rows[1].cells[1].col == 8);
  }

  TEST_CASE("CSV: BOM, CRLF, UTF-8, spaces kept, no final newline") {
    std::vector<Diagnostic> diags;
    RowTable t = Csv("\xEF\xBB\xBFname,style\r\nZo\xC3\xAB, spaced \r\nB,x", &diags);
    REQUIRE(t.rows.size() == 2);
    CHECK(t.rows[0].cells[0].column == "name");  // the BOM is not part of the first column
    CHECK(Cell(t, 0, 0) == "Zo\xC3\xAB");
    CHECK(Cell(t, 0, 1) == " spaced ");
    CHECK(Cell(t, 1, 1) == "x");
    CHECK(t.rows[0].cells[1].col == 5);  // columns count characters, not bytes
  }

  TEST_CASE("CSV: an empty field is not given; a quoted empty field is an empty string") {
    std::vector<Diagnostic> diags;
    RowTable t = Csv("name,style\nA,\nB,\"\"\n", &diags);
    REQUIRE(t.rows.size() == 2);
    CHECK(t.rows[0].cells[1].value.is_null());
    CHECK(Cell(t, 1, 1) == "");
  }

  TEST_CASE("CSV: bad UTF-8, a stray quote, a short row are errors with line and column") {
    std::vector<Diagnostic> diags;
    Csv("name\nok\nbad\xFF\n", &diags, false);
    CHECK(FirstError(diags).find("rows.csv:3:4") == 0);
    CHECK(FirstError(diags).find("not UTF-8") != std::string::npos);
    diags.clear();
    Csv("name,style\na\"b,c\n", &diags, false);
    CHECK(FirstError(diags).find("rows.csv:2:") == 0);
    diags.clear();
    Csv("name,style\n\"open,c\n", &diags, false);
    CHECK(FirstError(diags).find("not closed") != std::string::npos);
    diags.clear();
    Csv("name,style\na,b,c\n", &diags, false);
    CHECK(FirstError(diags).find("rows.csv:2:5") == 0);
    diags.clear();
    Csv("name,name\n", &diags, false);
    CHECK(FirstError(diags).find("appears twice") != std::string::npos);
  }

  TEST_CASE("JSON lines: values keep their types; errors name line and column") {
    std::vector<Diagnostic> diags;
    RowTable t;
    REQUIRE(ParseJsonLinesRows("{\"name\": \"A\", \"seed\": 3}\n\n{\"name\": \"B\"}\n", "r.jsonl", &t, &diags));
    REQUIRE(t.rows.size() == 2);
    CHECK(t.rows[0].cells[1].value == 3);
    CHECK(t.rows[1].line == 3);
    CHECK(t.rows[0].cells[1].col == 15);
    RowTable bad;
    CHECK_FALSE(ParseJsonLinesRows("{\"name\": \"A\"}\n[1]\n", "r.jsonl", &bad, &diags));
    CHECK(FirstError(diags).find("r.jsonl:2:1") == 0);
  }

  TEST_CASE("typing: undeclared column, wrong type, missing required param") {
    std::vector<Diagnostic> diags;
    Build("name,colour\nA,red\n", {}, &diags, false);
    INFO(FirstError(diags));
    CHECK(FirstError(diags).find("rows.csv:1:6") == 0);
    CHECK(FirstError(diags).find("declares no param") != std::string::npos);
    diags.clear();
    Build("name,seed\nA,7\nB,seven\n", {}, &diags, false);
    CHECK(FirstError(diags).find("rows.csv:3:3") == 0);
    CHECK(FirstError(diags).find("expected number") != std::string::npos);
    diags.clear();
    Build("name,seed\n,7\n", {}, &diags, false);
    CHECK(FirstError(diags).find("rows.csv:2:1") == 0);
    CHECK(FirstError(diags).find("required") != std::string::npos);
    diags.clear();
    Build("seed\n7\n", {}, &diags, false);
    CHECK(FirstError(diags).find("required") != std::string::npos);
    diags.clear();
    auto rows = Build("name,seed,hd\nA,7,true\n", {}, &diags);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].params["seed"] == 7);
    CHECK(rows[0].params["hd"] == true);
    CHECK(rows[0].params["name"] == "A");
  }

  TEST_CASE("sweep: the cartesian product, alone or crossed with the rows; the last varies fastest") {
    std::vector<Diagnostic> diags;
    RowSelection sel;
    std::string err;
    SweepAxis style, seed;
    REQUIRE(ParseSweep("style=a,b", kDeclared, &style, &err));
    REQUIRE(ParseSweep("seed=1,2,3", kDeclared, &seed, &err));
    CHECK(seed.values[2] == 3);
    sel.sweeps = {style, seed};
    auto rows = Build("name\nA\nB\n", sel, &diags);
    REQUIRE(rows.size() == 12);
    CHECK(rows[0].params == Json::parse(R"({"name":"A","style":"a","seed":1})"));
    CHECK(rows[1].params["seed"] == 2);
    CHECK(rows[3].params["style"] == "b");
    CHECK(rows[6].params["name"] == "B");
    CHECK(rows[11].number == 12);
    // Alone: a required param must then come from --param.
    std::vector<BatchRow> alone;
    CHECK(BuildBatchRows(nullptr, kDeclared, Json{{"name", "X"}}, sel, &alone, &diags));
    CHECK(alone.size() == 6);
    CHECK_FALSE(ParseSweep("seed=1,x", kDeclared, &seed, &err));
    CHECK_FALSE(ParseSweep("nope=1", kDeclared, &seed, &err));
    CHECK(err.find("declares no param") != std::string::npos);
  }

  TEST_CASE("slices: --rows A-B then --limit; numbers stay those of the full batch") {
    std::vector<Diagnostic> diags;
    RowSelection sel;
    std::string err;
    REQUIRE(ParseRowRange("2-4", &sel.first, &sel.last, &err));
    auto rows = Build("name\nA\nB\nC\nD\nE\n", sel, &diags);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].number == 2);
    CHECK(rows[0].key == "2");
    sel.limit = 2;
    CHECK(Build("name\nA\nB\nC\nD\nE\n", sel, &diags).size() == 2);
    REQUIRE(ParseRowRange("4-", &sel.first, &sel.last, &err));
    sel.limit = 0;
    CHECK(Build("name\nA\nB\nC\nD\nE\n", sel, &diags).size() == 2);
    CHECK_FALSE(ParseRowRange("5-2", &sel.first, &sel.last, &err));
    CHECK_FALSE(ParseRowRange("0-2", &sel.first, &sel.last, &err));
    CHECK_FALSE(ParseRowRange("x", &sel.first, &sel.last, &err));
    REQUIRE(ParseRowRange("9", &sel.first, &sel.last, &err));
    Build("name\nA\n", sel, &diags, false);
  }

  TEST_CASE("keys: safe for a file name and unique") {
    std::vector<Diagnostic> diags;
    RowSelection sel;
    sel.key_column = "name";
    auto rows = Build("name\nAnn Lee\n../etc\nAnn Lee\n\"\"\n", sel, &diags);
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].key == "Ann_Lee");
    CHECK(rows[1].key == ".._etc");
    CHECK(rows[2].key == "Ann_Lee-2");
    CHECK(rows[3].key == "4");  // empty: the row number
    CHECK(SafeRowKey("..") == "_..");
    CHECK(SafeRowKey("") == "_");
    CHECK(SafeRowKey("a/b") == "a_b");
    std::vector<BatchRow> back;
    std::string err;
    REQUIRE(RowsFromJson(RowsToJson(rows), &back, &err));
    CHECK(back[2].key == "Ann_Lee-2");
    CHECK(CsvField("a,b") == "\"a,b\"");
    CHECK(CsvField("say \"x\"") == "\"say \"\"x\"\"\"");
  }

  TEST_CASE("expansion: per-row node ids, references to the row's own nodes, params per row") {
    const std::string text = R"({"workflowId": "w", "params": {"name": "x", "n": 1},
      "nodes": [{"id": "a", "type": "value", "inputs": {"value": "<<params.name>>"}},
                {"id": "b", "type": "value", "inputs": {"value": "<<a.value>> #<<params.n>>", "k": "<<params.n>>"}}]})";
    Workflow base;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(text, "w.json", {}, &base, &diags));
    std::vector<BatchRow> rows(2);
    rows[0] = {1, "Ann", Json{{"name", "Ann"}}, 2};
    rows[1] = {2, "Bo", Json{{"name", "Bo"}, {"n", 5}}, 3};
    Workflow wf;
    ExpandBatch(base, rows, &wf);
    REQUIRE(wf.nodes.size() == 4);
    CHECK(wf.nodes[2].id == "Bo/a");
    CHECK(wf.nodes[2].inputs["value"] == "Bo");  // a whole-input param: the value itself
    CHECK(wf.nodes[3].inputs["value"] == "<<row2__a.value>> #<<params.row2__n>>");
    CHECK(wf.nodes[3].inputs["k"] == 5);
    CHECK(wf.params["row2__n"] == 5);
    CHECK(wf.params["row1__n"] == 1);
    CHECK_FALSE(wf.params.contains("row1__name"));  // only whole inputs: no key needed
    CHECK(wf.deps[3] == std::vector<size_t>{2});
    CHECK(wf.Find("row2__a") == &wf.nodes[2]);
    CHECK(ValidateWorkflow(&wf, &diags));
    CHECK(CountErrors(diags) == 0);
  }
}
