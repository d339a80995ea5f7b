// Reading a journal back (format documented in comfyrun/engine/journal.h and run/header.h).
//
// Implementation details:
// - Reader: reads the file in large chunks and parses each complete line in place (no copy
//   per line) with simdjson, whose DOM parse is several times faster than nlohmann's; Fold
//   reads the fields it needs from that DOM, and only outputs, submissions and the header are
//   converted to nlohmann values (100,000 records: 0.1 s instead of 0.5 s).
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
#include "comfyrun/engine/journal.h"
#include "journal_fold.h"

namespace comfyrun {

namespace {

/// Read size for ReadJournal.
constexpr size_t kReadChunk = 1 << 20;
/// Bad lines reported individually; the rest are counted in one final warning.
constexpr size_t kMaxLineWarnings = 20;

}  // namespace

namespace {

/// A JSON float as an integer, truncated; one beyond int64's range (a damaged or hand-made
/// record) counts as absent: converting it would be undefined behaviour (found by fuzzing).
std::optional<int64_t> TruncatedInt(double v) {
  if (!(v > -9.2e18 && v < 9.2e18)) return std::nullopt;
  return static_cast<int64_t>(v);
}

/// A record being appended (MirrorInto), read through the same typed lookups as a record read
/// back from the file, so a live run's mirror and a replay of its file fold through one Fold.
class JsonRecord {
 public:
  explicit JsonRecord(Json& rec) : rec_(rec) {}
  std::optional<std::string_view> Str(const char* key) const {
    auto it = rec_.find(key);
    if (it == rec_.end() || !it->is_string()) return std::nullopt;
    return std::string_view(it->get_ref<const std::string&>());
  }
  /// A number as an integer (a float is truncated); absent or not a number: nullopt.
  std::optional<int64_t> Int(const char* key) const {
    auto it = rec_.find(key);
    if (it == rec_.end() || !it->is_number()) return std::nullopt;
    if (it->is_number_float()) return TruncatedInt(it->get<double>());
    return it->get<int64_t>();
  }
  std::optional<double> Num(const char* key) const {
    auto it = rec_.find(key);
    if (it == rec_.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  }
  std::optional<bool> Bool(const char* key) const {
    auto it = rec_.find(key);
    if (it == rec_.end() || !it->is_boolean()) return std::nullopt;
    return it->get<bool>();
  }
  /// The field's value (null when absent). Moved out: Fold reads each field it takes once,
  /// and a mirrored record is not kept whole (FoldAppended passes keep_events = false).
  Json Take(const char* key) {
    auto it = rec_.find(key);
    return it == rec_.end() ? Json(nullptr) : std::move(*it);
  }
  Json Whole() { return std::move(rec_); }

 private:
  Json& rec_;
};

/// A record's fields in file order, listed once per line: Fold asks for a dozen fields, and
/// finding each by walking the parsed record cost more than parsing the line.
struct DomField {
  std::string_view key;
  simdjson::dom::element value;
};

/// A line read back from the file, parsed by simdjson: fields are read where they lie and
/// only "outputs", "submission" and the header become nlohmann values.
class DomRecord {
 public:
  /// `fields` is scratch space reused from line to line (no allocation per record).
  DomRecord(simdjson::dom::element doc, simdjson::dom::object obj, std::vector<DomField>* fields)
      : doc_(doc), fields_(*fields) {
    fields_.clear();
    for (simdjson::dom::key_value_pair field : obj) fields_.push_back({field.key, field.value});
  }
  std::optional<std::string_view> Str(const char* key) const {
    auto v = Find(key);
    if (!v || !v->is_string()) return std::nullopt;
    return v->get_string().value_unsafe();
  }
  std::optional<int64_t> Int(const char* key) const {
    auto v = Find(key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64().value_unsafe();
    if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64().value_unsafe());
    if (v->is_double()) return TruncatedInt(v->get_double().value_unsafe());
    return std::nullopt;
  }
  std::optional<double> Num(const char* key) const {
    auto v = Find(key);
    if (!v || !v->is_number()) return std::nullopt;
    return v->get_double().value_unsafe();  // converts integers too
  }
  std::optional<bool> Bool(const char* key) const {
    auto v = Find(key);
    if (!v || !v->is_bool()) return std::nullopt;
    return v->get_bool().value_unsafe();
  }
  Json Take(const char* key) {
    auto v = Find(key);
    return v ? ToJson(*v) : Json(nullptr);
  }
  Json Whole() { return ToJson(doc_); }

 private:
  /// The last field named `key`, as nlohmann keeps the last of repeated keys.
  std::optional<simdjson::dom::element> Find(const char* key) const {
    std::string_view k(key);
    // Length and first letter before memcmp: a completed record has 13 fields and Fold asks
    // for a dozen of them, 100,000 times in a large journal.
    for (auto it = fields_.rbegin(); it != fields_.rend(); ++it)
      if (it->key.size() == k.size() && it->key[0] == k[0] && it->key == k) return it->value;
    return std::nullopt;
  }
  simdjson::dom::element doc_;  ///< the record
  std::vector<DomField>& fields_;
};

/// Folds one parsed record (not the header) into the replay. `rec` may be taken from.
template <class Record>
void Fold(Record& rec, bool keep_events, JournalReplay* r) {
  std::string_view type = rec.Str("type").value_or("");
  int64_t t = rec.Int("t").value_or(0);
  if (t > r->last_event_at) r->last_event_at = t;
  if (type == "run_started") {
    ++r->runs;
    r->finished = false;
    if (r->first_started_at == 0) r->first_started_at = t;
    return;
  }
  if (type == "run_finished") {
    r->finished = true;
    r->final_status = std::string(rec.Str("status").value_or(""));
    return;
  }
  std::optional<std::string_view> id = rec.Str("node");
  if (!id) return;  // an unknown node-less record type, or a malformed one: ignored
  auto [found, is_new] = r->nodes.try_emplace(std::string(*id));
  if (is_new) r->node_order.emplace_back(*id);
  JournalNode& n = found->second;
  auto attempt_of = [&](const char* key) { return static_cast<int>(rec.Int(key).value_or(0)); };

  // The attempt this record ends: the open span, or, when there is none (inline kinds write
  // no node_started; a record whose start a crash tore off), a span of its own from
  // "startedAt" (or this record's time). A crash leaves a span open; the next node_started
  // then starts a new span and the cut-short one stays kOpen.
  auto end_span = [&](AttemptSpan::Outcome outcome, double cost) -> AttemptSpan& {
    if (n.spans.empty() || n.spans.back().outcome != AttemptSpan::Outcome::kOpen) {
      int attempt = static_cast<int>(rec.Int("attempt").value_or(rec.Int("attempts").value_or(0)));
      n.spans.push_back({attempt, rec.Int("startedAt").value_or(t), 0, AttemptSpan::Outcome::kOpen, {}, 0});
    }
    AttemptSpan& s = n.spans.back();
    s.outcome = outcome;
    s.end = t;
    s.cost = cost;
    return s;
  };
  if (type == "node_started") {
    n.status = JournalNode::Status::kRunning;
    int attempt = attempt_of("attempt");
    n.attempts = std::max<int>(n.attempts, attempt);
    if (n.started_at == 0) n.started_at = t;
    n.queue_wait_ms = rec.Int("queueWaitMs").value_or(n.queue_wait_ms);
    n.spans.push_back({attempt, t, 0, AttemptSpan::Outcome::kOpen, {}, 0});
  } else if (type == "submitted") {
    n.open_submission = rec.Take("submission");
  } else if (type == "completed") {
    n.status = JournalNode::Status::kCompleted;
    n.attempts = std::max<int>(n.attempts, attempt_of("attempt"));
    double cost = rec.Num("cost").value_or(0);
    n.cost += cost;
    r->total_cost += cost;
    if (auto p = rec.Str("provider")) n.provider = std::string(*p);
    if (auto m = rec.Str("model")) n.model = std::string(*m);
    if (n.started_at == 0) n.started_at = rec.Int("startedAt").value_or(0);
    n.duration_ms = rec.Int("durationMs").value_or(0);
    n.queue_wait_ms = rec.Int("queueWaitMs").value_or(n.queue_wait_ms);
    n.cached = rec.Bool("cached").value_or(false);
    n.open_submission = nullptr;
    n.finished_at = t;
    end_span(AttemptSpan::Outcome::kCompleted, cost).where = rec.Take("where");
    n.outputs = rec.Take("outputs");
  } else if (type == "attempt_failed") {
    n.attempts = std::max<int>(n.attempts, attempt_of("attempt"));
    double cost = rec.Num("cost").value_or(0);
    n.cost += cost;
    r->total_cost += cost;
    std::optional<std::string_view> e = rec.Str("error");
    AttemptSpan& span = end_span(AttemptSpan::Outcome::kFailed, cost);
    span.error = e ? std::string(*e) : "Internal";
    span.where = rec.Take("where");
    n.last_error = e ? ParseErrorType(std::string(*e)).value_or(ErrorType::kInternal) : ErrorType::kInternal;
    n.last_message = std::string(rec.Str("message").value_or(""));
    if (rec.Bool("submissionFinished").value_or(true)) n.open_submission = nullptr;
  } else if (type == "node_failed") {
    n.status = JournalNode::Status::kFailed;
    n.attempts = std::max<int>(n.attempts, attempt_of("attempts"));
    if (auto e = rec.Str("error")) n.last_error = ParseErrorType(std::string(*e)).value_or(ErrorType::kInternal);
    if (auto msg = rec.Str("message")) n.last_message = std::string(*msg);
    n.finished_at = t;
    // Usually an attempt_failed has ended the attempt already; a node failed before any
    // attempt ran (bad inputs, over budget) has no span.
    if (!n.spans.empty() && n.spans.back().outcome == AttemptSpan::Outcome::kOpen)
      end_span(AttemptSpan::Outcome::kFailed, 0).error = ErrorTypeName(n.last_error);
  } else if (type == "node_skipped") {
    n.status = JournalNode::Status::kSkipped;
    n.finished_at = t;
  }
  // Unknown types that name a node are kept for traces but change nothing.
  if (keep_events) n.events.push_back(rec.Whole());
}

void FoldAppendedImpl(Json& record, JournalReplay* r) {
  ++r->records;
  JsonRecord rec(record);
  std::optional<std::string_view> type = rec.Str("type");
  if (type && *type == "header") {
    if (r->header.is_null()) {
      r->last_event_at = rec.Int("t").value_or(0);
      r->header = std::move(record);  // Append is done with it
    }
    return;
  }
  if (type) Fold(rec, /*keep_events=*/false, r);  // false: Take may move out of the record
}

/// A record appended as JsonObjectText, read through the values it remembers.
class TextRecord {
 public:
  explicit TextRecord(JsonObjectText& rec) : rec_(rec) {}
  std::optional<std::string_view> Str(const char* key) const {
    auto f = rec_.Find(key);
    if (!f || f->kind != JsonObjectText::Field::Kind::kString) return std::nullopt;
    return rec_.StringOf(*f);
  }
  std::optional<int64_t> Int(const char* key) const {
    auto f = rec_.Find(key);
    if (!f) return std::nullopt;
    if (f->kind == JsonObjectText::Field::Kind::kInt) return f->i;
    if (f->kind == JsonObjectText::Field::Kind::kDouble) return TruncatedInt(f->d);
    return std::nullopt;
  }
  std::optional<double> Num(const char* key) const {
    auto f = rec_.Find(key);
    if (!f) return std::nullopt;
    if (f->kind == JsonObjectText::Field::Kind::kInt) return static_cast<double>(f->i);
    if (f->kind == JsonObjectText::Field::Kind::kDouble) return f->d;
    return std::nullopt;
  }
  std::optional<bool> Bool(const char* key) const {
    auto f = rec_.Find(key);
    if (!f || f->kind != JsonObjectText::Field::Kind::kBool) return std::nullopt;
    return f->b;
  }
  Json Take(const char* key) {
    auto f = rec_.Find(key);
    if (!f) return Json(nullptr);
    switch (f->kind) {
      case JsonObjectText::Field::Kind::kJson:
        return rec_.JsonOf(*f);
      case JsonObjectText::Field::Kind::kString:
        return Json(std::string(rec_.StringOf(*f)));
      case JsonObjectText::Field::Kind::kInt:
        return Json(f->i);
      case JsonObjectText::Field::Kind::kDouble:
        return Json(f->d);
      case JsonObjectText::Field::Kind::kBool:
        return Json(f->b);
    }
    return Json(nullptr);
  }
  Json Whole() { return Json::parse(rec_.Text()); }

 private:
  JsonObjectText& rec_;
};

void FoldAppendedImpl(JsonObjectText& record, JournalReplay* r) {
  ++r->records;
  TextRecord rec(record);
  if (rec.Str("type")) Fold(rec, /*keep_events=*/false, r);
}

}  // namespace

namespace journal_internal {
void FoldAppended(Json& record, JournalReplay* replay) { FoldAppendedImpl(record, replay); }
void FoldAppended(JsonObjectText& record, JournalReplay* replay) { FoldAppendedImpl(record, replay); }
}  // namespace journal_internal

void FindJournalNodes(const JournalReplay& replay, const std::vector<std::string_view>& ids,
                      std::vector<const JournalNode*>* nodes) {
  nodes->resize(ids.size(), nullptr);
  std::string key;
  for (size_t i = 0; i < ids.size(); ++i) {
    if ((*nodes)[i]) continue;
    key.assign(ids[i]);
    auto it = replay.nodes.find(key);
    if (it != replay.nodes.end()) (*nodes)[i] = &it->second;
  }
}

/// The header line parsed by its own parser, which stays alive (and untouched) until the
/// workflow is taken, so the element stays valid on whichever thread converts it.
struct HeaderWorkflow::Parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element workflow;
};
HeaderWorkflow::HeaderWorkflow() = default;
HeaderWorkflow::HeaderWorkflow(std::unique_ptr<Parsed> parsed) : parsed_(std::move(parsed)) {}
HeaderWorkflow::HeaderWorkflow(HeaderWorkflow&&) noexcept = default;
HeaderWorkflow& HeaderWorkflow::operator=(HeaderWorkflow&&) noexcept = default;
HeaderWorkflow::~HeaderWorkflow() = default;
bool HeaderWorkflow::present() const { return parsed_ != nullptr; }
namespace {
/// A header's nodes, converted one by one from the parsed line it owns.
class ParsedNodes : public NodeList {
 public:
  ParsedNodes(std::unique_ptr<HeaderWorkflow::Parsed> line, simdjson::dom::array nodes)
      : line_(std::move(line)), elements_(nodes.begin(), nodes.end()) {}
  size_t size() const override { return elements_.size(); }
  Json& At(size_t i, Json* scratch) const override {
    *scratch = ToJson(elements_[i]);
    return *scratch;
  }
  bool may_take() const override { return true; }

 private:
  std::unique_ptr<HeaderWorkflow::Parsed> line_;  // what the elements point into
  std::vector<simdjson::dom::element> elements_;
};
}  // namespace

std::unique_ptr<NodeList> HeaderWorkflow::TakeApart(Json* rest) {
  simdjson::dom::object obj;
  if (!parsed_ || parsed_->workflow.get_object().get(obj) != simdjson::SUCCESS) return nullptr;
  simdjson::dom::array nodes;
  bool has_nodes = false;
  for (simdjson::dom::key_value_pair field : obj)
    if (field.key == "nodes")
      has_nodes = field.value.get_array().get(nodes) == simdjson::SUCCESS;  // the last, as nlohmann
  if (!has_nodes) return nullptr;
  *rest = Json::object();
  for (simdjson::dom::key_value_pair field : obj)
    if (field.key != "nodes") (*rest)[std::string(field.key)] = ToJson(field.value);
  return std::make_unique<ParsedNodes>(std::move(parsed_), nodes);
}

bool HeaderWorkflow::IsObject() const { return parsed_ && parsed_->workflow.is_object(); }

std::string HeaderWorkflow::Text() const {
  if (!parsed_) return "";
  return simdjson::minify(parsed_->workflow);
}

Json HeaderWorkflow::Take() {
  if (!parsed_) return Json();
  Json doc = ToJson(parsed_->workflow);
  parsed_.reset();
  return doc;
}

namespace {

class LineFolder {
 public:
  LineFolder(bool keep_events, JournalReplay* r, std::function<void(const Json&, HeaderWorkflow&)> on_header)
      : keep_events_(keep_events), r_(r), on_header_(std::move(on_header)) {}

  /// Handles one complete line (without its '\n'), which must be followed by at least
  /// simdjson::SIMDJSON_PADDING readable bytes. False with *err for a fatal header problem.
  bool Line(const char* begin, const char* end, std::string* err) {
    ++line_no_;
    if (begin == end) return true;  // blank line: nothing to say
    // The first line, the header, gets a parser of its own: handed on with the header's
    // workflow (on_header), and the records' parser does not grow to the header's size.
    std::unique_ptr<HeaderWorkflow::Parsed> header_line;
    if (!have_header_) header_line = std::make_unique<HeaderWorkflow::Parsed>();
    simdjson::dom::parser& parser = header_line ? header_line->parser : parser_;
    simdjson::dom::element doc;
    bool parsed = parser.parse(begin, static_cast<size_t>(end - begin), false).get(doc) == simdjson::SUCCESS;
    simdjson::dom::object obj;
    bool is_object = parsed && doc.get_object().get(obj) == simdjson::SUCCESS;
    std::optional<DomRecord> rec;
    std::optional<std::string_view> type;
    if (is_object) {
      rec.emplace(doc, obj, &fields_);
      type = rec->Str("type");
    }
    if (!have_header_) {
      if (!type || *type != "header") {
        *err = "not a comfyrun journal (line 1 is not a header record)";
        return false;
      }
      simdjson::dom::element f;
      int64_t format = 0;
      if (obj["format"].get(f) != simdjson::SUCCESS || !f.is_int64() ||
          f.get_int64().get(format) != simdjson::SUCCESS) {
        *err = "journal header has no format version";
        return false;
      }
      if (format > kJournalFormat) {
        *err = "journal format " + std::to_string(format) + " is newer than this comfyrun (" +
               std::to_string(kJournalFormat) + "); upgrade comfyrun";
        return false;
      }
      have_header_ = true;
      ++r_->records;
      r_->last_event_at = rec->Int("t").value_or(0);
      if (!on_header_) {
        r_->header = rec->Whole();
        return true;
      }
      // Everything but the workflow now; the workflow when (and where) it is taken.
      r_->header = Json::object();
      bool has_workflow = false;
      for (simdjson::dom::key_value_pair field : obj) {
        if (field.key != "workflow") {
          r_->header[std::string(field.key)] = ToJson(field.value);
        } else {
          header_line->workflow = field.value;  // the last one, as nlohmann keeps
          has_workflow = true;
        }
      }
      HeaderWorkflow workflow;
      if (has_workflow) workflow = HeaderWorkflow(std::move(header_line));
      on_header_(r_->header, workflow);
      if (workflow.present()) r_->header = rec->Whole();  // not taken: the whole header, in its order
      return true;
    }
    if (!type) {
      Warn(parsed ? "not a journal record" : "not valid JSON");
      return true;
    }
    ++r_->records;
    if (*type == "header") return true;  // a repeated header carries nothing new
    Fold(*rec, keep_events_, r_);
    return true;
  }

  void Warn(const char* what) {
    if (++bad_lines_ <= kMaxLineWarnings)
      r_->warnings.push_back("line " + std::to_string(line_no_) + ": " + what + ", skipped");
  }

  void Finish() {
    if (bad_lines_ > kMaxLineWarnings)
      r_->warnings.push_back("and " + std::to_string(bad_lines_ - kMaxLineWarnings) + " more bad lines skipped");
    if (r_->first_started_at == 0 && r_->header.is_object())
      r_->first_started_at = JsonRecord(r_->header).Int("t").value_or(0);
  }

  bool have_header() const { return have_header_; }

 private:
  bool keep_events_;
  JournalReplay* r_;
  std::function<void(const Json&, HeaderWorkflow&)> on_header_;
  simdjson::dom::parser parser_;  // reused: its buffers grow to the longest line once
  std::vector<DomField> fields_;  // the current line's fields (DomRecord), reused
  size_t line_no_ = 0;
  size_t bad_lines_ = 0;
  bool have_header_ = false;
};

}  // namespace

bool ReadJournal(const std::string& path, JournalReplay* replay, std::string* err) {
  return ReadJournal(path, JournalReadOptions(), replay, err);
}

bool ReadJournal(const std::string& path, const JournalReadOptions& options, JournalReplay* replay, std::string* err) {
  *replay = JournalReplay();
  int fd = OpenUserFile(path, kMaxJournalFileBytes, err);  // a regular file only: no FIFO, no device
  if (fd < 0) return false;
  bool ok = true;
  try {
    LineFolder folder(options.keep_events, replay, options.on_header);
    // Sized to the file (a small journal must not pay for zeroing a big buffer), at most
    // kReadChunk; it grows only for a line longer than itself. Not zero-initialized.
    struct stat st;
    size_t cap = kReadChunk;
    if (fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) < kReadChunk)
      cap = std::max<size_t>(static_cast<size_t>(st.st_size) + 1, 4096);
    // SIMDJSON_PADDING spare bytes after the buffer: simdjson reads a little past a line's
    // end, and the last line in the buffer has nothing else after it.
    std::unique_ptr<char[]> buf(new char[cap + simdjson::SIMDJSON_PADDING]);
    size_t used = 0;  // [0, used) holds unprocessed bytes: at most one partial line
    while (ok) {
      if (used == cap) {
        std::unique_ptr<char[]> bigger(new char[cap * 2 + simdjson::SIMDJSON_PADDING]);
        std::memcpy(bigger.get(), buf.get(), used);
        buf = std::move(bigger);
        cap *= 2;
      }
      ssize_t n = read(fd, buf.get() + used, cap - used);
      if (n < 0) {
        if (errno == EINTR) continue;
        *err = std::string("reading: ") + std::strerror(errno);
        ok = false;
        break;
      }
      if (n == 0) break;
      size_t end = used + static_cast<size_t>(n);
      const char* base = buf.get();
      size_t start = 0;
      // Only the new bytes can hold the next '\n'; earlier carried bytes had none.
      size_t scan = used;
      while (true) {
        const void* nl = memchr(base + scan, '\n', end - scan);
        if (!nl) break;
        size_t pos = static_cast<size_t>(static_cast<const char*>(nl) - base);
        if (!folder.Line(base + start, base + pos, err)) {
          ok = false;
          break;
        }
        start = scan = pos + 1;
      }
      used = end - start;
      if (start > 0 && used > 0) std::memmove(buf.get(), buf.get() + start, used);
    }
    if (ok) {
      replay->torn_tail = used > 0;
      folder.Finish();
      if (!folder.have_header()) {
        *err = replay->torn_tail ? "journal has no complete header (torn first line)" : "journal is empty (no header)";
        ok = false;
      }
    }
  } catch (const std::exception& ex) {
    *err = std::string("reading journal: ") + ex.what();
    ok = false;
  }
  close(fd);
  return ok;
}

bool ReplayedOutputsExist(const Json& value, const std::string& root, std::string* missing) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (StartsWith(s, root + "/")) {
      std::error_code ec;
      if (!std::filesystem::exists(s, ec)) {
        *missing = s;
        return false;
      }
    }
    return true;
  }
  if (value.is_array() || value.is_object()) {
    for (const auto& v : value)
      if (!ReplayedOutputsExist(v, root, missing)) return false;
  }
  return true;
}

}  // namespace comfyrun
