#pragma once
// Short-lived worker threads whose work hands its result back to an event loop (decoding a
// reply, checking a file, an offline render). They are tracked, not detached, so that the
// event-loop backend can wait for all of them when the run ends (JoinOffLoopThreads).
#include <functional>
#include <string>

namespace comfyrun {

/// Starts `work` on a worker thread that JoinOffLoopThreads waits for (RemoteJob::OffLoop and
/// the ComfyUI jobs' file checks use it). `work` must not throw. False with *err when no
/// thread could be started. Any thread.
bool StartOffLoopThread(std::function<void()> work, std::string* err);

/// Waits for every thread that StartOffLoopThread started and that is still running (any job; a call
/// from such a thread skips itself). Their work is short (a reply to decode, a file to
/// check, an offline render), but it outlives a cancelled attempt: the event-loop backend calls
/// this when it shuts down, so that no thread still encodes a video (an open
/// libx264 encoder) when the process exits. Any thread.
void JoinOffLoopThreads();

}  // namespace comfyrun
