// Journal load and append timing (not built by CMake; scripts/bench/journal.sh builds it).
//   journal_perftest [records] [dir]
// Writes a realistic journal of `records` records (node_started / submitted / completed, with
// outputs, plus a few retries), then times ReadJournal, and times 8 threads appending proof
// records under each Durability.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comfyrun/engine/journal.h"

using namespace comfyrun;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

/// CPU seconds of this thread: unlike wall time, not inflated when the machine is busy.
double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bool WriteJournal(const std::string& path, size_t records) {
  unlink(path.c_str());
  std::string err;
  auto w = JournalWriter::Open(path, Durability::kNone, &err);
  if (!w) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return false;
  }
  Json header = {{"type", "header"},
                 {"format", kJournalFormat},
                 {"runId", "perf"},
                 {"workflow", {{"nodes", Json::array()}}},
                 {"params", Json::object()}};
  w->Append(header, false, &err);
  w->Append({{"type", "run_started"}, {"pid", 1}, {"resume", 0}}, false, &err);
  size_t n = 2;
  for (int node = 0; n < records; ++node) {
    std::string id = "node_" + std::to_string(node);
    w->Append({{"type", "node_started"}, {"node", id}, {"attempt", 1}}, false, &err);
    w->Append(
        {{"type", "submitted"},
         {"node", id},
         {"attempt", 1},
         {"submission", {{"provider", "veo"}, {"id", "operations/" + id}, {"server", "https://example.invalid"}}}},
        false, &err);
    n += 2;
    if (node % 10 == 0) {
      w->Append({{"type", "attempt_failed"},
                 {"node", id},
                 {"attempt", 1},
                 {"error", "RateLimited"},
                 {"message", "HTTP 429: quota exceeded, retry later"},
                 {"cost", 0},
                 {"retryIn", 4},
                 {"submissionFinished", true}},
                false, &err);
      w->Append({{"type", "node_started"}, {"node", id}, {"attempt", 2}}, false, &err);
      n += 2;
    }
    w->Append({{"type", "completed"},
               {"node", id},
               {"attempt", 1},
               {"outputs", {{"video", "out/perf/" + id + ".mp4"}, {"width", 1280}, {"height", 720}}},
               {"cost", 0.35},
               {"provider", "veo"},
               {"model", "veo-3.0-fast"},
               {"startedAt", 1700000000000},
               {"durationMs", 41234},
               {"queueWaitMs", 120},
               {"cached", false}},
              false, &err);
    ++n;
  }
  return true;
}

void AppendBench(const std::string& dir, Durability d, int threads, int per_thread) {
  std::string path = dir + "/perf-append.jsonl";
  unlink(path.c_str());
  std::string err;
  auto w = JournalWriter::Open(path, d, &err);
  if (!w) return;
  uint64_t base = w->sync_count();
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&w, t, per_thread] {
      std::string e;
      for (int i = 0; i < per_thread; ++i)
        w->Append({{"type", "completed"}, {"node", "n" + std::to_string(t * 100000 + i)}}, true, &e);
    });
  for (auto& th : pool) th.join();
  double secs = Seconds(start);
  std::printf("append %-5s %d threads x %d proof records: %.3f s, %llu fsyncs\n", DurabilityName(d), threads,
              per_thread, secs, static_cast<unsigned long long>(w->sync_count() - base));
}

}  // namespace

int main(int argc, char** argv) {
  size_t records = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  std::string dir = argc > 2 ? argv[2] : ".";
  std::string path = dir + "/perf-journal.jsonl";
  if (!WriteJournal(path, records)) return 1;

  for (bool keep_events : {true, false}) {
    JournalReadOptions options;
    options.keep_events = keep_events;
    double best = 1e9, best_cpu = 1e9, best_free = 1e9;
    size_t records_read = 0, nodes = 0;
    for (int i = 0; i < 5; ++i) {
      std::string err;
      auto r = std::make_unique<JournalReplay>();
      auto start = Clock::now();
      double cpu = CpuNow();
      if (!ReadJournal(path, options, r.get(), &err)) {
        std::fprintf(stderr, "read: %s\n", err.c_str());
        return 1;
      }
      best_cpu = std::min(best_cpu, CpuNow() - cpu);
      best = std::min(best, Seconds(start));
      records_read = r->records;
      nodes = r->nodes.size();
      start = Clock::now();
      r.reset();
      best_free = std::min(best_free, Seconds(start));
    }
    struct stat st;
    double mb = stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_size) / 1e6 : 0;
    std::printf(
        "replay %zu records, %.1f MB, %zu nodes, keep_events=%d: best of 5 %.3f s wall, "
        "%.3f s cpu (+ %.3f s wall to free the replay)\n",
        records_read, mb, nodes, keep_events, best, best_cpu, best_free);
  }

  for (Durability d : {Durability::kFull, Durability::kBatch, Durability::kNone}) AppendBench(dir, d, 8, 50);
  unlink(path.c_str());
  unlink((dir + "/perf-append.jsonl").c_str());
  return 0;
}
