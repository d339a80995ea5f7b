// value: outputs its inputs (templates already resolved), for parameters and constants.
#include "comfyrun/nodes/builtin_nodes.h"

namespace comfyrun {
namespace {
class ValueNode : public NodeKind {
 public:
  Mode mode() const override { return Mode::kBlocking; }
  bool runs_inline() const override { return true; }
  NodeResult Run(NodeContext& ctx) override { return NodeResult::Success(ctx.inputs); }
};
}  // namespace

NodeKind* ValueNodeKind() {
  static ValueNode kind;
  return &kind;
}

}  // namespace comfyrun
