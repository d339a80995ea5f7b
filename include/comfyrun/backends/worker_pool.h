#pragma once
// Threads for blocking node bodies (shell, media). Threads are started lazily, up to
// `max_threads`, so a run of remote-only nodes starts none.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace comfyrun {

class WorkerPool {
 public:
  explicit WorkerPool(size_t max_threads);
  ~WorkerPool();  ///< waits for queued and running work to finish, then joins
  /// Runs `work` on a pool thread. Thread-safe.
  void Submit(std::function<void()> work);

 private:
  void Loop();
  size_t max_threads_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace comfyrun
