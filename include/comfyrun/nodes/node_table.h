#pragma once
// The node-type table the program installs in core (core/node_registry.h): the built-in
// types that need no provider (value, shell, http, video_stitch, media_probe), listed here,
// and every provider row's types (providers/provider.h), with the row's pool, depth, rate
// and price estimate written into their specs. FindNodeKind (engine/node_kind.h) reads the
// same two tables.
#include <vector>

#include "comfyrun/core/node_type.h"

namespace comfyrun {

/// The full table: built-in types, then the providers' (the order `comfyrun nodes` lists).
const std::vector<NodeTypeSpec>& InstalledNodeTypes();

/// Installs InstalledNodeTypes() in core (SetNodeTypeTable). The CLI and the test mains call
/// it first thing; calling it again is harmless.
void InstallNodeTypes();

// Declarations, one per node type; each lives in src/nodes/ beside its kind.
NodeTypeSpec ImageGenerationSpec();  // generation_specs.cc (provider gemini)
NodeTypeSpec VideoGenerationSpec();  // generation_specs.cc (provider veo; sora by model)
NodeTypeSpec Sora2VideoSpec();       // generation_specs.cc (provider sora)
NodeTypeSpec ComfyuiSpec();          // local_specs.cc (provider comfyui)
NodeTypeSpec FalSpec();              // queue_specs.cc (provider fal)
NodeTypeSpec ReplicateSpec();        // queue_specs.cc (provider replicate)
NodeTypeSpec VideoStitchSpec();      // local_specs.cc
NodeTypeSpec MediaProbeSpec();       // local_specs.cc
NodeTypeSpec ShellSpec();            // local_specs.cc
NodeTypeSpec HttpSpec();             // local_specs.cc
NodeTypeSpec ValueSpec();            // local_specs.cc

}  // namespace comfyrun
