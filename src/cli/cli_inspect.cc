// The commands that check or read without running: validate, plan, nodes, schema, status,
// trace, report. What they do is in cmd_static.cc, cmd_schema.cc, cmd_status.cc,
// cmd_trace.cc and cmd_report.cc.
#include <fmt/format.h>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/report/report.h"
#include "comfyrun/schema/workflow_schema.h"
#include "command_registry.h"

namespace comfyrun {

void AddValidateCommand(CommandRegistry& registry) {
  auto validate = registry.Options<ValidateOptions>();
  CLI::App* validate_cmd = registry.Add("validate", "check workflows without running anything; exit 0 valid, 2 invalid",
                                        [validate] { return ValidateCommand(*validate); });
  validate_cmd->add_option("files", validate->files, "workflow files")->required();
  validate_cmd->add_option("-p,--param", validate->params, "NAME=VALUE for <<params.NAME>> (repeatable)");
  validate_cmd->add_flag("--json", validate->json, "print the diagnostics as JSON on stdout");
  registry.Manual(validate_cmd,
                  {"Loads each workflow and checks it without running anything or spending money: JSON syntax, keys, "
                   "node types, inputs (types, allowed values, ranges, required), template references to nodes, params "
                   "and outputs, cycles, durations, retry policies and model names. Every problem is reported at once, "
                   "each with its file, node, JSON path and a hint; warnings (unknown top-level keys) do not fail.",
                   {{"0", "every file is valid"}, {"2", "a file is invalid or unreadable, or a bad command line"}},
                   {{"comfyrun validate graphs/*.json", "check every example workflow"},
                    {"comfyrun validate wf.json -p character=\"a robot florist\" --json | jq '.diagnostics[]'",
                     "check with a param value; diagnostics as JSON"}},
                   "comfyrun plan, comfyrun schema"});
}

void AddPlanCommand(CommandRegistry& registry) {
  auto plan = registry.Options<PlanOptions>();
  CLI::App* plan_cmd =
      registry.Add("plan", "show stages (what runs in parallel), critical path and estimated cost", [plan] {
        if (plan->dot && plan->json) {
          fmt::print(stderr,
                     "comfyrun plan: --dot and --json print the plan in two "
                     "formats: give one or the other\n");
          return static_cast<int>(kExitInvalid);
        }
        return PlanCommand(*plan);
      });
  plan_cmd->add_option("file", plan->file, "workflow file")->required();
  plan_cmd->add_option("-p,--param", plan->params, "NAME=VALUE (repeatable)");
  plan_cmd->add_flag("--json", plan->json, "print the plan as JSON");
  plan_cmd->add_flag("--dot", plan->dot, "print the graph in Graphviz DOT (render: comfyrun plan F --dot | dot -Tsvg)");
  plan_cmd->add_flag("--offline", plan->offline, "estimate as --offline would run it (cost 0)");
  registry.Manual(
      plan_cmd,
      {"Shows how a valid workflow would run, without running it: the stages (nodes that can run at the same "
       "time), the critical path (the chain of nodes that bounds the run's duration, from each type's "
       "expected time) and the estimated cost from the price table (COMFYRUN_MODELS overrides it).",
       {{"0", "the plan was printed"}, CommandRegistry::ExitBadInput()},
       {{"comfyrun plan graphs/multi-video-series.json", "stages, critical path and cost as text"},
        {"comfyrun plan graphs/quickstart.json --dot | dot -Tsvg > plan.svg", "draw the graph with Graphviz"}},
       "comfyrun validate, comfyrun run"});
}

void AddNodesCommand(CommandRegistry& registry) {
  auto nodes = registry.Options<NodesOptions>();
  CLI::App* nodes_cmd =
      registry.Add("nodes", "list node types with their inputs and outputs", [nodes] { return NodesCommand(*nodes); });
  nodes_cmd->add_option("type", nodes->type, "show one type in full");
  nodes_cmd->add_flag("--json", nodes->json, "print as JSON");
  registry.Manual(
      nodes_cmd,
      {"Lists the built-in node types. Given a TYPE (or an alias), shows its inputs with their type, default "
       "and allowed values, and its outputs. `comfyrun schema` prints the same declarations as a JSON Schema.",
       {{"0", "listed"}, {"2", "unknown node type"}},
       {{"comfyrun nodes video_stitch", "the inputs and outputs of video_stitch"},
        {"comfyrun nodes --json | jq -r '.[].type'", "the type names"}},
       "comfyrun schema"});
}

void AddStatusCommand(CommandRegistry& registry) {
  auto status = registry.Options<StatusOptions>();
  CLI::App* status_cmd = registry.Add("status", "progress, cost and running nodes of a live or finished run",
                                      [status] { return StatusCommand(*status); });
  status_cmd->add_option("journal", status->journal, "the run's journal (.jsonl)")->required();
  status_cmd->add_flag("--json", status->json, "print the run's metrics as JSON");
  registry.Manual(
      status_cmd,
      {"Reads a run's journal, also while the run is live, and prints its progress: nodes completed, "
       "failed, skipped, running and pending, the cost so far, and whether a process is running it. "
       "--json prints the run's metrics (the document of metrics/<runId>.json) with \"live\".",
       {{"0", "printed"}, {"2", "the journal cannot be read"}},
       {{"comfyrun status generated/journals/quickstart-20261122T041100Z-3f2a.jsonl", "progress of that run"},
        {"watch -n 5 comfyrun status JOURNAL", "follow a live run"}},
       "comfyrun report, comfyrun trace"});
}

void AddTraceCommand(CommandRegistry& registry) {
  auto trace = registry.Options<TraceOptions>();
  CLI::App* trace_cmd =
      registry.Add("trace", "print a run's journal as a Chrome trace (open in Perfetto or chrome://tracing)",
                   [trace] { return TraceCommand(*trace); });
  trace_cmd->add_option("journal", trace->journal, "the run's journal (.jsonl)")->required();
  trace_cmd->add_option("-o,--output", trace->output, "write the trace to FILE instead of stdout")
      ->type_name("FILE")
      ->check(NonEmptyPath());
  registry.Manual(trace_cmd,
                  {"Converts a run's journal into a Chrome trace (JSON): one track per node with its attempts, queue "
                   "waits and submissions. Open it in https://ui.perfetto.dev or chrome://tracing.",
                   {{"0", "written"}, {"1", "FILE cannot be written"}, {"2", "the journal cannot be read"}},
                   {{"comfyrun trace JOURNAL -o run.trace.json", "write the trace to a file"}},
                   "comfyrun report, docs/observability.md"});
}

void AddSchemaCommand(CommandRegistry& registry) {
  auto schema = registry.Options<SchemaOptions>();
  CLI::App* schema_cmd = registry.Add("schema", "print the JSON Schema of the workflow format (for editors and CI)",
                                      [schema] { return SchemaCommand(*schema); });
  schema_cmd->add_option("-o,--output", schema->output, "write the schema to FILE instead of stdout")
      ->type_name("FILE")
      ->check(NonEmptyPath());
  registry.Manual(
      schema_cmd,
      {"Prints the JSON Schema (draft-07) of the workflow format, generated from the node registry: each "
       "node type with its inputs (type, allowed values, range, required or default), the node keys (id, "
       "type, inputs, dependsOn, retry, timeout, pool, cache) and the workflow keys. Editors use it for "
       "completion and checks while typing (docs/schema.md shows VS Code's set-up); CI can check files with "
       "any JSON Schema validator. Templates are accepted wherever a value is expected. `comfyrun validate` "
       "checks more: references, cycles, model names.",
       {{"0", "printed"}, {"1", "stdout could not be written"}, {"2", "FILE cannot be written"}},
       {{"comfyrun schema -o .vscode/comfyrun-workflow.schema.json", "for VS Code (see docs/schema.md)"},
        {"comfyrun schema | jq '.definitions | keys'", "its parts: node, inputs.TYPE, duration, retry, ..."}},
       "comfyrun validate, comfyrun nodes, docs/schema.md"});
}

void AddReportCommand(CommandRegistry& registry) {
  auto report = registry.Options<ReportOptions>();
  CLI::App* report_cmd =
      registry.Add("report", "write a self-contained HTML report of a run (journal) or an A/B test (result)",
                   [report] { return ReportCommand(*report); });
  report_cmd->add_option("file", report->input, "a run's journal (.jsonl) or an A/B result (ab-tests/*.json)")
      ->required()
      ->type_name("FILE");
  report_cmd->add_option("--html", report->html, "write the page to FILE (\"-\" = stdout)")
      ->required()
      ->type_name("FILE")
      ->check(NonEmptyPath());
  registry.Manual(report_cmd,
                  {"Writes one self-contained HTML page (inline styles, script and SVG; nothing is fetched) that opens "
                   "in any browser, offline. The kind of FILE is told from its content.\n\n"
                   "- A journal: the run summary (status, duration, cost, attempts, peak parallelism, critical path), "
                   "a timeline of every node attempt with queue waits, retries and interrupted attempts, the attempts "
                   "running over time, and a table of time and cost per node.\n"
                   "- An A/B result: the decision and warnings, each metric per variant with its 95% interval and the "
                   "single runs, the probability of being best, and the comparisons with the baseline.\n\n"
                   "Text from the files (node ids, prompts, messages) is escaped.",
                   {{"0", "written"},
                    {"1", "stdout could not be written"},
                    {"2", "FILE is unreadable or neither a journal nor an A/B result, or the page cannot be written"}},
                   {{"comfyrun report generated/journals/quickstart-20261122T041100Z-3f2a.jsonl --html run.html",
                     "the report of a run"},
                    {"comfyrun report generated/ab-tests/quickstart-prompts-20261122T041500Z.json --html ab.html",
                     "the report of an A/B test"}},
                   "comfyrun status, comfyrun trace, docs/report.md"});
}

}  // namespace comfyrun
