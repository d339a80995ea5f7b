#pragma once
// What wakes the executor (internal to src/engine): results, progress and durability notices
// that backends' threads and the sync thread post (CompletionQueue), the group-commit sync
// thread, and the executor's own timers (retries, timeouts).
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "comfyrun/engine/journal.h"
#include "comfyrun/engine/node_result.h"

namespace comfyrun {

/// What backends' threads (workers, the HTTP loop) and the sync thread post back.
struct Event {
  size_t node;
  int attempt;
  bool is_progress = false;
  NodeResult result;
  std::string progress;
  bool is_durable = false;  ///< the sync thread made records up to `ticket` durable
  uint64_t ticket = 0;
  std::string sync_error;
};

/// Events from any thread. fd() is an eventfd that is readable while events wait, so the
/// executor can sleep in one poll() on it and on the pipes of running programs.
class CompletionQueue {
 public:
  CompletionQueue() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~CompletionQueue() {
    if (fd_ >= 0) close(fd_);
  }
  void Post(Event e) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(e));
    if (!signalled_) {  // one write per batch, not per event
      signalled_ = true;
      uint64_t one = 1;
      (void)!write(fd_, &one, sizeof one);
    }
  }
  /// Without an eventfd (none left) poll() still times out every 0.1 s and sees the events.
  int fd() const { return fd_; }
  /// Everything queued; fd() is no longer readable until the next Post.
  std::deque<Event> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (signalled_) {
      uint64_t count;
      (void)!read(fd_, &count, sizeof count);
      signalled_ = false;
    }
    std::deque<Event> out;
    out.swap(events_);
    return out;
  }

 private:
  const int fd_;
  std::mutex mutex_;  // guards events_ and signalled_
  std::deque<Event> events_;
  bool signalled_ = false;
};

/// Group commit for --durability batch: fsyncs the journal on its own thread whenever asked,
/// covering every request made meanwhile, and posts a durable event. The executor thread
/// never waits for the disk; only the dependents of a completed node wait for its record.
class SyncThread {
 public:
  SyncThread(JournalWriter* journal, std::shared_ptr<CompletionQueue> queue)
      : journal_(journal), queue_(std::move(queue)), thread_([this] { Loop(); }) {}
  ~SyncThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  /// Asks for records appended so far to become durable; `ticket` comes back in the event.
  void Request(uint64_t ticket) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requested_ = std::max(requested_, ticket);
    }
    wake_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || requested_ > synced_; });
      if (requested_ <= synced_) return;  // stopping, nothing pending
      uint64_t target = requested_;
      lock.unlock();
      std::string err;
      journal_->Sync(&err);  // covers every record appended before this call
      Event e{0, 0};
      e.is_durable = true;
      e.ticket = target;
      e.sync_error = err;
      queue_->Post(std::move(e));
      lock.lock();
      synced_ = target;
    }
  }
  JournalWriter* journal_;
  std::shared_ptr<CompletionQueue> queue_;
  std::mutex mutex_;  // guards requested_, synced_, stopping_ (executor thread + sync thread)
  std::condition_variable wake_;
  uint64_t requested_ = 0, synced_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

/// Steady-clock seconds: what timers and queue waits are measured in.
inline double SteadyNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

enum class TimerKind { kRetry, kAttemptTimeout, kTotalTimeout };
struct Timer {
  size_t node;
  int attempt;
  TimerKind kind;
};

}  // namespace comfyrun
