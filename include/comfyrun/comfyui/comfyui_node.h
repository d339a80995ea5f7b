#pragma once
// The `comfyui` node type (DESIGN.md §3, PROVIDERS.md §4): runs an API-format ComfyUI graph on
// one server of the ComfyuiPool and downloads what its output nodes produced.
//
// One attempt, all on the HttpLoop thread (Start only posts there):
//   1. load the graph (inline, or a workflow_api.json path relative to the working directory)
//      and apply `set` overrides; errors -> InvalidInput naming the unknown ids / inputs;
//   2. take a slot from the pool (least-loaded healthy server, or the `server` input);
//   3. upload local files named by LoadImage-style inputs (POST /upload/image) and put the
//      server's names in their place;
//   4. POST /prompt {prompt, client_id, prompt_id} with the process's client_id; journal
//      {provider:"comfyui", server, promptId, clientId} as soon as it is accepted
//      (ctx.RecordSubmission, which fsyncs on the loop thread: a few milliseconds, once per
//      prompt);
//   5. wait: the server's WebSocket (comfyui/events.h, one per server, shared by all jobs)
//      reports node progress, shown on the status line ("KSampler #3 12/30 on gpu1:8188"), and
//      the end of the prompt, which makes the job fetch GET /history/{id} at once. Polling
//      /history goes on underneath as the source of truth: every ws_poll_interval (10 s) while
//      the socket is up, every poll_interval when it is down or the server has no /ws. While
//      the history is {} GET /queue tells "running", "queued (n ahead)" and "gone" apart;
//   6. give the slot back, then download every output file with GET /view into ctx.node_dir
//      as "<comfy node id>_<server filename>" (ComfyUI reuses file names across cached runs,
//      so names are made unique per node, never taken from the server alone).
//
// Outputs: images, videos, audio (arrays of absolute paths), files ([{node, kind, path,
// filename}]), imagePath / videoPath (the first ones; absent when there is none), promptId,
// server.
//
// Errors: a 400 validation reply -> InvalidInput with the ComfyUI node ids and messages;
// execution_error -> Execution with the node and exception (NoFace when the exception says no
// face was found or detected); an interrupted prompt -> Execution; connection refused before
// the prompt is accepted -> the server is marked down and the attempt fails over to another
// server within the same attempt (at most once per configured server), Unavailable when none
// is left; an output file under minImageBytes / minVideoBytes -> OutputInvalid.
//
// Resume and retry: with ctx.submission the node does not POST /prompt: it takes a slot on the
// recorded server and polls /history. When /history is {} and /queue does not list the prompt
// either (server restarted), it fails with Unavailable and submission_finished=true, so the
// next attempt submits again. Losing contact with the server after acceptance fails with
// Unavailable and submission_finished=false, so the next attempt re-attaches.
//
// Timeout (ctx.attempt_timeout) and Cancel: POST /interrupt {prompt_id} and POST /queue
// {delete:[id]} are sent without waiting for them to land, and `done` is called at once with
// Timeout or Cancelled (submission_finished=true: the job was asked to stop).
#include "comfyrun/engine/node_kind.h"

namespace comfyrun {

/// The process-wide instance (a stateless-looking singleton that tracks running attempts so
/// Cancel can find them).
NodeKind* ComfyuiNodeKind();

class ComfyuiPool;
/// The run's one ComfyUI server pool, made from `config` on first use and kept among the
/// event-loop backend's shared resources; null with *err (empty: no server configured).
ComfyuiPool* SharedComfyuiPool(const Config& config, const LoopServices& loop, std::string* err);

}  // namespace comfyrun
