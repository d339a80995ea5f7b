#pragma once
// The node kinds backed by the media module (kBlocking; they run on a worker thread):
//  - video_stitch: inputs videoPaths, transitionType, transitionDuration, output (a file name
//    inside the node's folder); outputs videoPath (absolute), duration, frames, streamCopied.
//    Unreadable inputs and impossible transitions fail with InvalidInput naming the file.
//  - media_probe: inputs path, minBytes, minDuration, maxDuration, hasAudio, hasVideo,
//    maxBlack, maxFrozen; outputs the ProbeResult::ToJson fields. A failed check fails the
//    node with OutputInvalid and says which check failed.
// Declarations of their inputs and outputs live in src/nodes/local_specs.cc.
#include "comfyrun/node_kind.h"

namespace comfyrun {

/// Process-lifetime singletons; never null.
NodeKind* VideoStitchNodeKind();
NodeKind* MediaProbeNodeKind();

}  // namespace comfyrun
