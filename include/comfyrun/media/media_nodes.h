#pragma once
// The node kinds backed by the media module (kBlocking; they run on a worker thread):
//  - video_stitch: inputs videoPaths, transitionType, transitionDuration, output (a file name
//    inside the node's folder); outputs videoPath (absolute), duration, frames, streamCopied.
//    Unreadable inputs and impossible transitions fail with InvalidInput naming the file.
//  - media_probe: inputs path, minBytes, minDuration, maxDuration, hasAudio, hasVideo,
//    maxBlack, maxFrozen; outputs the ProbeResult::ToJson fields. A failed check fails the
//    node with OutputInvalid and says which check failed.
// Declarations of their inputs and outputs live in src/nodes/local_specs.cc.
//
// Two sides of the module boundary (media/module.h):
//  - in the executable (src/media_loader/media_kinds.cc), the NodeKinds of the node table:
//    their Run loads the module (a node fails with Internal and the loader's message when it
//    cannot) and calls the body through the module's table;
//  - in the module (src/media/media_nodes.cc), the bodies.
#include "comfyrun/engine/node_kind.h"

namespace comfyrun {

/// Process-lifetime singletons; never null. Loading happens on the first Run, not here.
NodeKind* VideoStitchNodeKind();
NodeKind* MediaProbeNodeKind();

namespace media {
/// The node bodies. Never throw.
NodeResult RunVideoStitch(NodeContext& ctx);
NodeResult RunMediaProbe(NodeContext& ctx);
}  // namespace media

}  // namespace comfyrun
