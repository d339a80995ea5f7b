#pragma once
// The workflow model (DESIGN.md §2) and its loader.
//
// Loading is two steps, both collecting every problem rather than stopping at the first:
//   1. LoadWorkflow: file -> JSON -> Workflow (shape, ids, durations, params, references)
//   2. ValidateWorkflow (validate.h): node types, inputs, outputs, cycles
// Nothing is run or spent by either.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "comfyrun/core/dag.h"
#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/error_type.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/node_type.h"
#include "comfyrun/core/template.h"

namespace comfyrun {

/// Temporal's retry policy (DESIGN.md §4). Times in seconds.
struct RetryPolicy {
  int maximum_attempts = 3;  ///< 1 = no retry; 0 = unlimited (bounded by total timeout)
  double initial_interval = 1.0;
  double backoff_coefficient = 2.0;
  double maximum_interval = 100.0;         ///< defaults to 100 x initial_interval
  std::vector<std::string> non_retryable;  ///< error type names
};

/// Per-node time limits in seconds; 0 means none.
struct NodeTimeouts {
  double attempt = 0;
  double total = 0;
};

struct WorkflowNode {
  std::string id;
  std::string type;                           ///< as written (may be an alias)
  const NodeTypeSpec* spec = nullptr;         ///< null when the type is unknown (an error was reported)
  Json inputs;                                ///< an object once loaded (null only in a fresh slot)
  std::vector<std::string> declared_outputs;  ///< the older format's "outputs" list
  std::vector<std::string> depends_on;
  RetryPolicy retry;
  NodeTimeouts timeout;
  std::string pool;  ///< "" = no pool beyond -j
  std::optional<bool> cache;
  std::string json_path;              ///< "$.nodes[3]"
  std::vector<Reference> references;  ///< templates found in inputs
};

/// Where a pool's nodes run, from the object form of a pool:
/// "pools": {"heavy": {"executor": "slurm", "partition": "gpu", "slots": 50, "sbatch": ["--time=30:00"]}}.
struct PoolExecutor {
  std::string executor;             ///< "slurm" (the only remote executor so far)
  std::string partition;            ///< "" = the cluster's default
  std::vector<std::string> sbatch;  ///< extra sbatch options, in order
};

struct Workflow {
  std::string file;  ///< as given on the command line
  std::string workflow_id;
  std::string description;
  Json metadata = Json::object();
  Json params = Json::object();              ///< final values: defaults overridden by --param
  std::map<std::string, int> pools;          ///< name -> concurrency
  std::map<std::string, double> pool_rates;  ///< name -> declared rate, starts per second ("rate": "60/min")
  /// Pools that run elsewhere (name -> where); a pool not listed runs on this machine.
  std::map<std::string, PoolExecutor> pool_executors;
  std::vector<WorkflowNode> nodes;
  /// Per node: the positions of the nodes it waits for, sorted, no duplicates. One list for
  /// the whole graph, which the scheduler, validation and metrics read without copying.
  DepLists deps;
  std::unordered_map<std::string, size_t> index;  ///< node id -> position in nodes
  Json document;                                  ///< the workflow as loaded, for the journal header

  const WorkflowNode* Find(const std::string& id) const;
};

/// The nodes' ids in order, as views into the workflow.
std::vector<std::string_view> NodeIdViews(const Workflow& wf);

/// A --param NAME=VALUE from the command line.
struct ParamOverride {
  std::string name;
  std::string value;
};

/// Largest workflow file accepted; larger files are refused with a message, not parsed.
constexpr size_t kMaxWorkflowBytes = 16 << 20;
/// Deepest nesting of arrays and objects accepted.
constexpr int kMaxJsonDepth = 256;

/// Parses JSON text with limits on size and depth and a line:column on syntax errors.
/// `file` names the source in diagnostics. Returns false with diagnostics on failure.
bool ParseJsonDocument(const std::string& text, const std::string& file, Json* doc, std::vector<Diagnostic>* diags);

/// Reads and parses a JSON file (ParseJsonDocument plus a clear message for a missing file).
bool LoadJsonFile(const std::string& path, Json* doc, std::vector<Diagnostic>* diags);

/// A workflow's nodes, given one at a time to the threads that read them. The document's
/// "nodes" array is one; a journal header's workflow still parsed by simdjson is another,
/// converted node by node as they are read, so that resume never builds a document of
/// 100,000 nodes (journal.h, HeaderWorkflow).
class NodeList {
 public:
  virtual ~NodeList() = default;
  virtual size_t size() const = 0;
  /// Node i, asked for once, from any thread; `scratch` is the calling thread's to fill.
  virtual Json& At(size_t i, Json* scratch) const = 0;
  /// Whether the reader may take parts of a node (move its inputs) instead of copying them.
  virtual bool may_take() const = 0;
};

/// Builds a Workflow from a parsed document, checking its shape, node ids, durations, retry
/// policies, params and template syntax; also resolves types and the dependency edges.
/// Returns false when any error was added to *diags (the Workflow is then partial).
/// The document becomes workflow->document: pass it with std::move when done with it (a
/// 100,000-node document costs 0.1 s to copy).
bool BuildWorkflow(Json doc, const std::string& file, const std::vector<ParamOverride>& overrides, Workflow* workflow,
                   std::vector<Diagnostic>* diags);
/// The same for a document whose "nodes" come apart, from `nodes`; workflow->document is then
/// the document without its nodes.
bool BuildWorkflow(Json document_without_nodes, const NodeList& nodes, const std::string& file,
                   const std::vector<ParamOverride>& overrides, Workflow* workflow, std::vector<Diagnostic>* diags);

/// LoadJsonFile + BuildWorkflow + ValidateWorkflow: what `validate`, `plan` and `run` use.
bool LoadWorkflow(const std::string& path, const std::vector<ParamOverride>& overrides, Workflow* workflow,
                  std::vector<Diagnostic>* diags);

/// The same as LoadWorkflow for JSON text already in memory; `file` names it in diagnostics.
bool LoadWorkflowText(const std::string& text, const std::string& file, const std::vector<ParamOverride>& overrides,
                      Workflow* workflow, std::vector<Diagnostic>* diags);

/// Parses a --param argument "NAME=VALUE". Returns false with *err on a malformed argument.
bool ParseParamArgument(const std::string& arg, ParamOverride* out, std::string* err);

/// Longest node id (and workflowId): ids name folders and files under --out.
constexpr size_t kMaxNodeIdLength = 128;

/// True for ids made of letters, digits, '_' and '-' (what a template can name), at most
/// kMaxNodeIdLength.
bool IsValidNodeId(const std::string& id);

}  // namespace comfyrun
