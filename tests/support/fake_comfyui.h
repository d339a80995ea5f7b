#pragma once
// FakeComfyui: an in-process ComfyUI 0.3.64 look-alike for tests, served by
// testing::LocalServer on 127.0.0.1 (cpp-httplib is not usable: Debian ships its
// implementation as a shared library the test binary does not link). Built from
// ../shared/comfyui-0.3.64-transcript.json: same routes (also under /api), same status codes,
// same JSON shapes.
//
// Routes:
//   GET  /system_stats, /features, /prompt (exec_info), /queue, /history, /history/{id}
//   POST /prompt        validation like execution.py validate_prompt: 500 text for non-JSON,
//                       400 no_prompt / invalid_prompt / prompt_no_outputs /
//                       prompt_outputs_failed_validation (required_input_missing,
//                       value_bigger_than_max, value_smaller_than_min,
//                       exception_during_inner_validation for a link to a missing node,
//                       custom_validation_failed for a LoadImage file never uploaded)
//   POST /queue {delete:[ids]} | {clear:true}   removes pending prompts only; bare 200
//   POST /interrupt [{prompt_id}]              interrupts the running prompt; bare 200
//   POST /upload/image (multipart "image")     -> {name, subfolder, type:"input"}
//   GET  /view?filename=&subfolder=&type=      real PNG bytes (uncompressed, > 1 KB; 438 bytes
//                                              compressed under Fault::kSmallPng) or the
//                                              MP4 of tests/data/comfyui_clip.mp4; 400 for
//                                              ".." or a leading "/", 404 (empty) when missing
//   GET  /ws?clientId=                         WebSocket (support/local_websocket.h): a
//                                              `status` with the sid on connect; then, for
//                                              prompts queued with that client_id, the
//                                              transcript's sequence: execution_start,
//                                              execution_cached, executing {node}, progress +
//                                              progress_state (progress_steps of them, spread
//                                              over the run), executed per output node,
//                                              execution_success (or execution_error /
//                                              execution_interrupted), status, and executing
//                                              {node: null}. 404 while disabled.
//   POST /_fake/comfy, GET /_fake/comfy                the test switches and counters over HTTP, for
//                                              `comfyrun_fakes comfyui` (see Control)
// Not served: /object_info.
//
// Known classes: EmptyImage, ImageInvert, ImageBlur, ImageScale, LoadImage, SaveImage,
// PreviewImage, CreateVideo, SaveVideo, LoadAudio, SaveAudio, ReActorFaceSwap. Output nodes:
// SaveImage (images, type output), PreviewImage (images, type temp), SaveVideo (images +
// animated:[true], .mp4 under subfolder "video"), SaveAudio (audio, .flac).
//
// Queue: `slots` prompts run at once (a real server has 1); each takes `run_seconds` of wall
// time, evaluated lazily on every request (a simulated clock: no background thread), so the
// counters are exact. Running an identical graph again is "cached": the history names the same
// files as the first run, as the real server does.
//
// Events need a clock of their own: while a socket is connected, a ticker thread advances the
// queue every 10 ms (a client listening for events sends no requests that would).
//
// Threading: LocalServer runs the handlers on its own thread; all state is behind one mutex,
// so the setters and counters may be called from the test thread at any time.
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun::testing {

class LocalServer;
class LocalWebSocket;
struct LocalRequest;
struct LocalResponse;

class FakeComfyui {
 public:
  struct Options {
    int slots = 1;             ///< prompts executing at once
    double run_seconds = 0.2;  ///< wall time each prompt executes
    int progress_steps = 4;    ///< `progress` events per prompt over its run
  };
  /// Scripted outcome of the next prompts to start executing.
  enum class Fault {
    kNone,
    kExecutionError,  ///< execution_error in a node ("CUDA out of memory")
    kNoFace,          ///< execution_error with "No face detected in the source image"
    kTinyOutput,      ///< files of a few bytes (below the minimum sizes)
    kLoseOutput,      ///< history names files that /view does not have (404)
    kCorruptOutput,   ///< files of several KB that do not decode (a cut PNG, a cut MP4)
    kSmallPng,        ///< valid 64x64 PNGs of 438 bytes, like a real server's (compressed)
  };

  FakeComfyui();
  explicit FakeComfyui(Options options);
  ~FakeComfyui();  ///< stops serving
  FakeComfyui(const FakeComfyui&) = delete;
  FakeComfyui& operator=(const FakeComfyui&) = delete;

  /// Starts listening on an ephemeral 127.0.0.1 port (LocalServer binds no fixed port).
  bool Start();
  /// Stops listening for good ("down"): connections to url() are refused from now on (the
  /// port is not reused while the process lives, short of a very unlikely ephemeral reuse).
  /// State and counters are kept.
  void Stop();
  /// A server restart while staying on the same port: queue, history and cache are lost and
  /// WebSockets dropped, as when ComfyUI is restarted, so re-attaching clients find their
  /// prompt gone.
  void Forget();
  bool running() const;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void SetRunSeconds(double seconds);
  /// Applies `fault` to the next `count` prompts that start executing (-1 = all of them).
  void SetFault(Fault fault, int count = -1);

  /// POST /prompt queues the prompt at once but answers only `seconds` later (after a
  /// client's request timeout, say): the reply is lost, the prompt is not.
  void SetPromptReplyDelay(double seconds);
  /// The next `count` POST /prompt are read and then lost before they are queued; no reply
  /// comes (within a minute). The client cannot tell this from a lost reply.
  void LosePrompts(int count);

  // WebSocket switches.
  /// While disabled, /ws answers 404 (a server behind a proxy without WebSocket support).
  void SetWebSocketEnabled(bool enabled);
  /// The next `count` prompts to start lose their client's socket halfway through the run:
  /// it is dropped without a close frame, and no later event of those prompts is sent, even
  /// after the client reconnects. Only polling can see them finish.
  void DropWebSocketMidPrompt(int count = 1);
  /// Drops every open socket now, without a close frame; clients may reconnect.
  void DropWebSockets();
  /// Sends `text` as a text message to every open socket (foreign events, for tests).
  void BroadcastWs(const std::string& text);
  /// A finished prompt's execution_success is sent at once, but its history entry (and the
  /// final `executing` null) appear `seconds` later. The real server's order allows that gap:
  /// execution_success goes out before the history is written.
  void SetHistoryLag(double seconds);

  // Counters.
  int prompts_submitted() const;  ///< accepted POST /prompt
  int prompts_rejected() const;   ///< 400/500 POST /prompt
  int max_running() const;        ///< most prompts executing at one time
  int max_outstanding() const;    ///< most prompts running + pending at one time
  int interrupts() const;         ///< POST /interrupt requests
  int queue_deletes() const;      ///< prompt ids named by POST /queue {delete}
  int uploads() const;            ///< POST /upload/image accepted
  int ws_connections() const;     ///< WebSocket upgrades accepted
  int ws_open() const;            ///< sockets registered now (one per clientId)
  int ws_events() const;          ///< per-prompt event messages sent
  int history_requests() const;   ///< GET /history/{id}
  int prompts_lost() const;       ///< POST /prompt lost by LosePrompts
  int running_now() const;
  int pending_now() const;
  /// Accepted prompt ids, in order; and the graph of the last accepted prompt.
  std::vector<std::string> prompt_ids() const;
  Json last_prompt() const;
  /// Names of files uploaded to the input folder.
  std::vector<std::string> uploaded_names() const;

 private:
  struct Prompt {
    std::string id;
    double number = 0;
    Json graph;
    Json extra;
    Json outputs_to_execute;
    double start = 0, end = 0;
    bool interrupted = false;
    Fault fault = Fault::kNone;
    std::string ws_node;    ///< node shown as executing
    int ws_step = -1;       ///< last progress value sent
    bool ws_drop = false;   ///< DropWebSocketMidPrompt applies
    bool ws_muted = false;  ///< no more events for this prompt
  };
  /// A prompt whose history entry is not visible yet (SetHistoryLag).
  struct Finishing {
    Prompt prompt;
    Json entry;
    double visible_at = 0;
  };

  void Install(LocalServer& server);
  LocalResponse PostPrompt(const LocalRequest& req);
  LocalResponse PostUpload(const LocalRequest& req);
  LocalResponse GetView(const LocalRequest& req);
  /// POST /_fake/comfy {fault, count, runSeconds, promptReplyDelay, losePrompts}: the switches
  /// above, for end-to-end scripts (GET /_fake/comfy: counters and prompt ids).
  LocalResponse Control(const LocalRequest& req);
  void Advance(double now);                                        ///< mu_ held
  void StartPending(double at);                                    ///< mu_ held
  void Complete(const Prompt& p, double at);                       ///< mu_ held
  void Commit(const Prompt& p, Json entry);                        ///< mu_ held: history entry, status, executing null
  void Emit(const Prompt& p, const std::string& type, Json data);  ///< mu_ held
  void EmitStatus(const Prompt& p);                                ///< mu_ held
  void Tick(double now);                                           ///< mu_ held: progress events and planned drops
  void AcceptSocket(int fd, const LocalRequest& request, std::string leftover, const std::string& sid);
  void RetireSocket(const std::string& sid, bool drop);  ///< mu_ held
  void TickerLoop();
  Json QueueItem(const Prompt& p) const;
  Json ValidatePrompt(const Json& graph, int* status) const;  ///< mu_ held; null when valid
  Json RunOutputs(const Prompt& p, bool* cached);             ///< mu_ held

  Options options_;
  int port_ = 0;
  std::unique_ptr<LocalServer> server_;

  mutable std::mutex mu_;
  std::deque<Prompt> pending_;
  std::vector<Prompt> running_;
  std::map<std::string, Json> history_;  ///< prompt id -> history entry
  std::vector<std::string> history_order_;
  std::map<std::string, std::string> files_;   ///< "type/subfolder/filename" -> bytes
  std::map<std::string, std::string> inputs_;  ///< uploaded name -> bytes
  std::map<std::string, Json> cache_;          ///< graph dump -> outputs of its first run
  std::map<std::string, int> counters_;        ///< filename prefix -> last index used
  double number_ = 0;
  Fault fault_ = Fault::kNone;
  int fault_count_ = 0;
  int prompts_submitted_ = 0, prompts_rejected_ = 0, max_running_ = 0, max_outstanding_ = 0;
  int interrupts_ = 0, queue_deletes_ = 0, uploads_ = 0;
  double prompt_reply_delay_ = 0;
  int lose_prompts_ = 0, prompts_lost_ = 0;
  std::vector<std::string> prompt_ids_;
  Json last_prompt_;

  std::deque<Finishing> finishing_;
  std::map<std::string, std::shared_ptr<LocalWebSocket>> sockets_;  ///< clientId -> socket
  /// Sockets no longer registered; destroyed (joined) by the ticker outside mu_, since their
  /// threads take mu_ when they close.
  std::vector<std::shared_ptr<LocalWebSocket>> retired_;
  bool ws_enabled_ = true;
  int drop_mid_prompt_ = 0;
  double history_lag_ = 0;
  int ws_connections_ = 0, ws_events_ = 0, history_requests_ = 0;
  std::thread ticker_;        ///< started with the first socket
  bool stop_ticker_ = false;  ///< guarded by mu_
  std::condition_variable ticker_cv_;
};

/// Serves a FakeComfyui with `slots` until the process is killed (for end-to-end tests that
/// drive the comfyrun binary). `port` must be 0 (an ephemeral port: LocalServer cannot bind a
/// given one); the URL is printed on stdout as "fake comfyui listening on
/// http://127.0.0.1:<port>" once ready. Returns 2 for a non-zero port.
int RunFakeComfyuiForever(int port, int slots, double run_seconds = 0.5);

/// A valid RGB PNG of w x h pixels stored without compression (so its size is predictable:
/// about 3*w*h bytes).
std::string MakeUncompressedPng(int width, int height, uint32_t rgb);

/// A valid RGB PNG of one colour, deflate-compressed the way real PNG writers do, padded with a
/// tEXt chunk to `pad_to` bytes when that is larger (64x64 padded to 438: the size a real
/// ComfyUI 0.3.64 server wrote).
std::string MakeCompressedPng(int width, int height, uint32_t rgb, size_t pad_to = 0);

}  // namespace comfyrun::testing
