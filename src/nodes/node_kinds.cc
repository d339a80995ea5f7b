// The one table of node implementations: canonical type name -> NodeKind. Declarations (inputs,
// outputs) live in the specs; this table says who runs each type.
#include "comfyrun/node_kind.h"

#include <string>

#include "comfyrun/nodes/builtin_nodes.h"

namespace comfyrun {

NodeKind* FindNodeKind(const std::string& type) {
  if (type == "value") return ValueNodeKind();
  if (type == "shell") return ShellNodeKind();
  if (type == "http") return HttpNodeKind();
  return nullptr;
}

}  // namespace comfyrun
