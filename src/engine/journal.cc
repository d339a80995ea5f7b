// Journal writer and lock (format documented in comfyrun/engine/journal.h and run/header.h);
// journal_replay.cc reads journals back and folds records into a JournalReplay.
//
// Implementation details:
// - Writer: one fd opened O_APPEND. Every record is one write(2) of the whole line, made under
//   mu_, so lines never interleave and a crash tears at most the last line. Because we hold
//   the lock file, this process is the only writer and size_ always equals the file size; a
//   short write is undone with ftruncate(size_).
// - Group commit (kBatch): appenders count records in written_seq_; a proof appender waits
//   until synced_seq_ covers its record. The first waiter finding no sync in progress becomes
//   the leader: it gives proof appenders already inside Append a short window to write, then
//   fdatasyncs outside the mutex and publishes the covered sequence number to all followers.
#include "comfyrun/engine/journal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/workflow.h"
#include "journal_fold.h"

namespace comfyrun {

namespace {

/// How long a group-commit leader waits for proof appenders already inside Append.
constexpr auto kBatchWindow = std::chrono::milliseconds(2);
/// How long Open retries a held lock before reporting it (a status probe holds it briefly).
constexpr int kLockRetries = 20;
constexpr auto kLockRetryDelay = std::chrono::milliseconds(5);

std::string ErrnoText(int e) {
  switch (e) {
    case ENOSPC:
      return "disk full";
    case EDQUOT:
      return "disk quota exceeded";
    case EFBIG:
      return "file too large (file size limit reached)";
    default:
      return std::strerror(e);
  }
}

std::string LockPath(const std::string& path) { return path + ".lock"; }

/// Folds a record that was just appended into a mirror replay (defined with the reader).
using journal_internal::FoldAppended;

/// Reads the holder's record from a lock file: its pid and "since" text. False if unreadable.
bool ReadLockInfo(int fd, int* pid, std::string* since) {
  char buf[512];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return false;
  Json info = Json::parse(buf, buf + n, nullptr, false);
  if (info.is_discarded() || !info.is_object()) return false;
  auto p = info.find("pid");
  if (p == info.end() || !p->is_number_integer() || p->get<int64_t>() <= 0) return false;
  *pid = p->get<int>();
  auto s = info.find("since");
  if (since) *since = (s != info.end() && s->is_string()) ? s->get<std::string>() : "?";
  return true;
}

bool WriteAll(int fd, const char* data, size_t len, int* err_no) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err_no = errno;
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

/// Cuts a torn last line (bytes after the last '\n') off the journal. *size is the new size.
bool CutTornTail(int fd, uint64_t* size, uint64_t* cut, std::string* err) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *err = std::string("stat: ") + std::strerror(errno);
    return false;
  }
  uint64_t end = static_cast<uint64_t>(st.st_size);
  *size = end;
  *cut = 0;
  if (end == 0) return true;
  char buf[4096];
  uint64_t pos = end;
  uint64_t keep = 0;  // stays 0 when no newline at all: the whole file is one torn line
  bool last_checked = false;
  while (pos > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(pos, sizeof(buf)));
    pos -= n;
    ssize_t got = pread(fd, buf, n, static_cast<off_t>(pos));
    if (got != static_cast<ssize_t>(n)) {
      *err = std::string("reading journal tail: ") + (got < 0 ? std::strerror(errno) : "short read");
      return false;
    }
    if (!last_checked) {
      if (buf[n - 1] == '\n') return true;  // ends cleanly: the common case
      last_checked = true;
    }
    const void* nl = memrchr(buf, '\n', n);
    if (nl) {
      keep = pos + static_cast<uint64_t>(static_cast<const char*>(nl) - buf) + 1;
      break;
    }
  }
  if (ftruncate(fd, static_cast<off_t>(keep)) != 0) {
    *err = std::string("cutting torn last line: ") + std::strerror(errno);
    return false;
  }
  *cut = end - keep;
  *size = keep;
  return true;
}

}  // namespace

bool ParseDurability(const std::string& name, Durability* out) {
  if (name == "full")
    *out = Durability::kFull;
  else if (name == "batch")
    *out = Durability::kBatch;
  else if (name == "none")
    *out = Durability::kNone;
  else
    return false;
  return true;
}

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kFull:
      return "full";
    case Durability::kBatch:
      return "batch";
    case Durability::kNone:
      return "none";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Writer

struct JournalWriter::Impl {
  std::string path;
  Durability durability = Durability::kBatch;
  int fd = -1;          // the journal; written only under mu, fdatasync'd outside it
  int lock_fd = -1;     // <journal>.lock, flock'ed for the writer's lifetime; Open/destructor only
  bool locked = false;  // we hold the flock on lock_fd (and wrote our pid into it)

  // Everything below is guarded by mu; any appending thread may take it.
  std::mutex mu;
  std::condition_variable cv;       // signalled when a sync ends or a batched appender has written
  uint64_t size = 0;                // file size: we are the only writer
  uint64_t written_seq = 0;         // records written so far
  uint64_t synced_seq = 0;          // records covered by a finished fdatasync
  bool sync_in_progress = false;    // a leader is waiting for the window or in fdatasync
  int proof_arriving = 0;           // proof appenders inside Append that have not written yet
  std::string broken;               // set after an error that left the file uncertain
  JournalReplay* mirror = nullptr;  // MirrorInto: appended records are folded into it

  // Read and written by any thread without mu (relaxed: a statistic).
  std::atomic<uint64_t> syncs{0};

  /// Writes one record as one line: `serialize` fills the line (without '\n'), `fold` folds
  /// the record into the mirror once it is in the file. Proof records return once durable.
  template <class Serialize, class Fold>
  bool Write(bool proof, Serialize serialize, Fold fold, std::string* err) {
    bool batch_proof = proof && durability == Durability::kBatch;
    if (batch_proof) {
      std::lock_guard<std::mutex> lock(mu);
      ++proof_arriving;
    }
    // Tells a waiting group-commit leader that this appender has written (or given up).
    auto arrived = [this, batch_proof]() {
      if (!batch_proof) return;
      if (--proof_arriving == 0 && sync_in_progress) cv.notify_all();
    };
    std::string serialized;  // outside mu: serializing is the slow part
    try {
      serialize(&serialized);
    } catch (const std::exception& ex) {
      std::lock_guard<std::mutex> lock(mu);
      arrived();
      *err = std::string("serializing journal record: ") + ex.what();
      return false;
    }
    serialized += '\n';

    std::unique_lock<std::mutex> lock(mu);
    if (!broken.empty()) {
      arrived();
      *err = broken;
      return false;
    }
    ssize_t n;
    do n = write(fd, serialized.data(), serialized.size());
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(serialized.size())) {
      int e = errno;
      if (n >= 0) {
        // Short write: a retry of the rest gives the real reason (ENOSPC, EFBIG), or succeeds.
        e = 0;
        if (WriteAll(fd, serialized.data() + n, serialized.size() - static_cast<size_t>(n), &e))
          n = static_cast<ssize_t>(serialized.size());
      }
      if (n != static_cast<ssize_t>(serialized.size())) {
        *err = "writing journal " + path + ": " + ErrnoText(e ? e : EIO);
        // Take back whatever part of the line reached the file so readers never see it.
        if (ftruncate(fd, static_cast<off_t>(size)) != 0)
          broken = *err + " (and a partial record could not be removed)";
        arrived();
        return false;
      }
    }
    size += serialized.size();
    uint64_t seq = ++written_seq;
    if (mirror) fold(mirror);
    arrived();
    if (!proof) return true;
    switch (durability) {
      case Durability::kNone:
        return true;
      case Durability::kFull: {
        lock.unlock();
        std::string sync_err;
        if (DoSync(&sync_err)) return true;
        lock.lock();
        if (broken.empty()) broken = sync_err;
        *err = sync_err;
        return false;
      }
      case Durability::kBatch:
        return SyncThrough(lock, seq, err);
    }
    return true;
  }

  bool DoSync(std::string* err) {
    syncs.fetch_add(1, std::memory_order_relaxed);
    if (fdatasync(fd) != 0) {
      *err = "syncing journal " + path + ": " + ErrnoText(errno);
      return false;
    }
    return true;
  }

  /// Waits until records 1..seq are durable, syncing as the leader if nobody else is.
  /// `lock` holds mu on entry and on return.
  bool SyncThrough(std::unique_lock<std::mutex>& lock, uint64_t seq, std::string* err) {
    while (synced_seq < seq) {
      if (!broken.empty()) {
        *err = broken;
        return false;
      }
      if (sync_in_progress) {
        cv.wait(lock);
        continue;
      }
      sync_in_progress = true;
      if (durability == Durability::kBatch && proof_arriving > 0)
        cv.wait_for(lock, kBatchWindow, [this] { return proof_arriving == 0; });
      uint64_t target = written_seq;
      lock.unlock();
      std::string sync_err;
      bool ok = DoSync(&sync_err);
      lock.lock();
      sync_in_progress = false;
      // After a failed fdatasync the kernel may have dropped the dirty pages: nothing written
      // so far can be trusted to be durable, so the writer stops for good.
      if (!ok)
        broken = sync_err;
      else
        synced_seq = std::max(synced_seq, target);
      cv.notify_all();
    }
    return true;
  }
};

std::unique_ptr<JournalWriter> JournalWriter::Open(const std::string& path, Durability durability, std::string* err) {
  std::unique_ptr<JournalWriter> writer(new JournalWriter());
  writer->impl_ = std::make_unique<Impl>();
  Impl& im = *writer->impl_;
  im.path = path;
  im.durability = durability;

  // Lock first: nothing touches the journal before we own it.
  std::string lock_path = LockPath(path);
  im.lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (im.lock_fd < 0) {
    *err = "opening lock file " + lock_path + ": " + std::strerror(errno);
    return nullptr;
  }
  for (int i = 0;; ++i) {
    if (flock(im.lock_fd, LOCK_EX | LOCK_NB) == 0) {
      // The last writer removes the lock file when it ends, holding the lock: a file we
      // opened just before that is no longer the lock, and a third process may already lock
      // its replacement. Start again with the file the path names now.
      if (IsCurrentLockFile(im.lock_fd, path)) break;
      close(im.lock_fd);
      im.lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (im.lock_fd < 0) {
        *err = "opening lock file " + lock_path + ": " + std::strerror(errno);
        return nullptr;
      }
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      *err = "locking " + lock_path + ": " + std::strerror(errno);
      return nullptr;  // the destructor closes the fds
    }
    // Held. A status probe holds it for microseconds, and a new holder may not have written
    // its pid yet, so retry briefly before blaming anyone.
    if (i < kLockRetries) {
      std::this_thread::sleep_for(kLockRetryDelay);
      continue;
    }
    int pid = 0;
    std::string since;
    if (ReadLockInfo(im.lock_fd, &pid, &since))
      *err = "journal " + path + " is in use by comfyrun pid " + std::to_string(pid) + " (since " + since +
             "); wait for it or stop it";
    else
      *err = "journal " + path + " is in use by another process (lock " + lock_path + ")";
    return nullptr;
  }
  int64_t now = NowUnixMs();
  Json info = {{"pid", static_cast<int64_t>(getpid())}, {"since", IsoTime(now)}, {"t", now}};
  std::string info_text = info.dump() + "\n";
  im.locked = true;
  int e = 0;
  if (ftruncate(im.lock_fd, 0) != 0) e = errno;
  if (e == 0) WriteAll(im.lock_fd, info_text.data(), info_text.size(), &e);
  if (e != 0) {
    *err = "writing lock file " + lock_path + ": " + ErrnoText(e);
    return nullptr;
  }

  im.fd = open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (im.fd < 0) {
    *err = "opening journal " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  uint64_t cut = 0;
  std::string cut_err;
  if (!CutTornTail(im.fd, &im.size, &cut, &cut_err)) {
    *err = "journal " + path + ": " + cut_err;
    return nullptr;
  }
  // Make the cut (or the new file's existence) durable before appending after it.
  if (durability != Durability::kNone && (cut > 0 || im.size == 0)) {
    std::string sync_err;
    if (!im.DoSync(&sync_err)) {
      *err = sync_err;
      return nullptr;
    }
    if (im.size == 0) {
      std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
      int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        fsync(dfd);  // best effort: some filesystems refuse fsync on directories
        close(dfd);
      }
    }
  }
  return writer;
}

JournalWriter::~JournalWriter() {
  if (!impl_) return;
  if (impl_->fd >= 0) {
    std::string err;
    Sync(&err);  // nothing to report to: a failed final sync leaves a tail resume tolerates
    close(impl_->fd);
  }
  if (impl_->lock_fd >= 0) {
    // The lock file goes while we still hold the lock, so no finished journal keeps one. A
    // process that opened it just before blocks on (or retries) the flock of a file no path
    // names; when it gets it, IsCurrentLockFile tells it to open the path again.
    if (impl_->locked) {
      if (ftruncate(impl_->lock_fd, 0) != 0) {
        // harmless: a stale pid without a lock means unlocked
      }
      if (IsCurrentLockFile(impl_->lock_fd, impl_->path)) unlink(LockPath(impl_->path).c_str());
    }
    close(impl_->lock_fd);
  }
}

bool JournalWriter::Append(Json record, bool proof, std::string* err) {
  if (!record.is_object()) {
    *err = "journal record is not a JSON object";
    return false;
  }
  if (record.find("t") == record.end()) record["t"] = NowUnixMs();
  return impl_->Write(
      proof, [&record](std::string* line) { AppendJson(line, record); },  // as dump(-1,' ',false,replace)
      [&record](JournalReplay* mirror) { FoldAppended(record, mirror); }, err);
}

bool JournalWriter::AppendText(JsonObjectText& record, bool proof, std::string* err) {
  return impl_->Write(
      proof, [&record](std::string* line) { *line = record.Text(); },
      [&record](JournalReplay* mirror) { FoldAppended(record, mirror); }, err);
}

void JournalWriter::MirrorInto(JournalReplay* replay) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->mirror = replay;
}

bool JournalWriter::Sync(std::string* err) {
  Impl& im = *impl_;
  std::unique_lock<std::mutex> lock(im.mu);
  return im.SyncThrough(lock, im.written_seq, err);
}

const std::string& JournalWriter::path() const { return impl_->path; }

uint64_t JournalWriter::sync_count() const { return impl_->syncs.load(std::memory_order_relaxed); }

uint64_t JournalWriter::size() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->size;
}

bool IsCurrentLockFile(int fd, const std::string& journal_path) {
  struct stat held {
  }, named{};
  if (fstat(fd, &held) != 0 || stat(LockPath(journal_path).c_str(), &named) != 0) return false;
  return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

int JournalLockHolder(const std::string& path) {
  int fd = open(LockPath(path).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO there must not hang status
  if (fd < 0) return 0;
  int holder = 0;
  // A shared probe conflicts with the writer's exclusive lock but not with other probes.
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
    flock(fd, LOCK_UN);
  } else {
    holder = -1;
    // A new holder writes its pid right after locking; give it a moment.
    for (int i = 0; i < 50; ++i) {
      int pid = 0;
      if (ReadLockInfo(fd, &pid, nullptr)) {
        holder = pid;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  close(fd);
  return holder;
}

}  // namespace comfyrun
