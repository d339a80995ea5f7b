#pragma once
// The generic queue node types `fal` and `replicate` (docs/queue-providers.md): any model
// hosted by fal.ai or Replicate, by its model id, with its input JSON passed through. Both are
// NodeKind::Mode::kAsync and run a QueueJob (providers/queue_job.h); under --offline they
// render a placeholder image or video instead.
#include "comfyrun/core/node_type.h"
#include "comfyrun/engine/node_kind.h"

namespace comfyrun {

// FalSpec() and ReplicateSpec() are declared with the other specs in nodes/node_table.h.
/// Static singletons; never null.
NodeKind* FalNodeKind();
NodeKind* ReplicateNodeKind();

}  // namespace comfyrun
