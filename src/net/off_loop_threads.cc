#include "comfyrun/net/off_loop_threads.h"

#include <list>
#include <mutex>
#include <thread>

namespace comfyrun {
namespace {

/// The threads OffLoop started. A thread marks itself done as its last step; OffLoop joins
/// the done ones as it starts another, so the list stays as long as the work in progress.
/// (They used to be detached: an offline render of a cancelled attempt then went on after
/// the run, and when the process exited under it, LeakSanitizer saw libx264's encoder
/// context, which only that thread's stack still held, as leaked.)
struct OffLoopThread {
  std::thread thread;
  bool done = false;  ///< guarded by g_off_loop_mutex
};
std::mutex g_off_loop_mutex;
std::list<OffLoopThread> g_off_loop_threads;

/// Takes the finished threads out of the list (mutex held), to be joined without it.
std::list<OffLoopThread> TakeDone() {
  std::list<OffLoopThread> done;
  for (auto it = g_off_loop_threads.begin(); it != g_off_loop_threads.end();) {
    auto next = std::next(it);
    if (it->done) done.splice(done.end(), g_off_loop_threads, it);
    it = next;
  }
  return done;
}

}  // namespace

void JoinOffLoopThreads() {
  std::list<OffLoopThread> all;
  {
    std::lock_guard<std::mutex> lock(g_off_loop_mutex);
    all.swap(g_off_loop_threads);
  }
  std::list<OffLoopThread> self;
  for (auto it = all.begin(); it != all.end();) {
    auto next = std::next(it);
    if (it->thread.get_id() == std::this_thread::get_id())
      self.splice(self.end(), all, it);
    else
      it->thread.join();
    it = next;
  }
  if (!self.empty()) {  // the caller's own thread: it cannot join itself; it goes back
    std::lock_guard<std::mutex> lock(g_off_loop_mutex);
    g_off_loop_threads.splice(g_off_loop_threads.end(), self);
  }
}
bool StartOffLoopThread(std::function<void()> work, std::string* err) {
  std::list<OffLoopThread> done;
  try {
    std::lock_guard<std::mutex> lock(g_off_loop_mutex);
    done = TakeDone();
    g_off_loop_threads.emplace_back();
    auto entry = std::prev(g_off_loop_threads.end());
    try {
      // The entry's iterator stays valid: list nodes only move by splice, under the mutex,
      // which this thread holds until the entry has its std::thread.
      entry->thread = std::thread([entry, work = std::move(work)]() mutable {
        work();
        work = nullptr;  // what it holds (a job) goes before the thread is marked done
        std::lock_guard<std::mutex> l(g_off_loop_mutex);
        entry->done = true;
      });
    } catch (...) {
      g_off_loop_threads.erase(entry);
      throw;
    }
  } catch (const std::exception& e) {
    *err = e.what();
    return false;
  }
  for (auto& t : done) t.thread.join();  // finished already: returns at once
  return true;
}

}  // namespace comfyrun
