#pragma once
// The node kinds that need no provider: value, shell, http.
#include "comfyrun/engine/node_kind.h"

namespace comfyrun {

NodeKind* ValueNodeKind();
NodeKind* ShellNodeKind();
NodeKind* HttpNodeKind();

}  // namespace comfyrun
