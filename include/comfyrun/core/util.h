#pragma once
// Generic helpers. Includes no other comfyrun header.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace comfyrun {

/// Parses a duration: a number of seconds ("2.5"), a number with a unit ("500ms", "10s",
/// "15m", "2h", "1d"), or several such pairs ("1h30m", "1m 30s"). Returns seconds, or
/// nullopt with *err set ("bad duration '10 parsecs': unknown unit 'parsecs' ...").
std::optional<double> ParseDuration(std::string_view text, std::string* err);

/// Formats seconds for people: "850ms", "12.3s", "4m05s", "2h03m".
std::string FormatDuration(double seconds);

/// Edit distance for "did you mean" hints: insertions, deletions, substitutions and swaps of
/// two adjacent characters each count one ("vidoe" -> "video" is 1).
size_t EditDistance(std::string_view a, std::string_view b);

/// The candidate closest to `word` if it is close enough to be a likely typo (at most one edit
/// per three characters, at least one), else "". Ties go to the earlier candidate.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

/// Limits on files a user names (README, "Workflow format"): a larger file is refused, not read.
/// Workflows and A/B test files have their own (kMaxWorkflowBytes, workflow.h).
constexpr uint64_t kMaxJournalFileBytes = uint64_t{4} << 30;  ///< 4 GiB: journals (resume, status, ...)
constexpr uint64_t kMaxReadFileBytes = uint64_t{1} << 30;     ///< 1 GiB: everything else ReadFile reads

/// Opens a file a user named, for reading, only when it is a regular file of at most `limit`
/// bytes. Never blocks and never reads a device: a FIFO with no writer, /dev/zero, a
/// directory or a socket is refused with *err saying what it is ("is a FIFO (named pipe),
/// not a regular file"). Returns the descriptor (the caller closes it), or -1.
int OpenUserFile(const std::string& path, uint64_t limit, std::string* err);

/// Reads a whole regular file of at most `limit` bytes (OpenUserFile's rules; a file that
/// grows past the limit while being read is refused too). False with *err on failure.
bool ReadUserFile(const std::string& path, uint64_t limit, std::string* contents, std::string* err);

/// ReadUserFile with kMaxReadFileBytes. Returns false with *err ("no such file", ...).
bool ReadFile(const std::string& path, std::string* contents, std::string* err);

/// Writes a file atomically: a temp file beside it, fsync, rename. Readers see the old or the
/// new contents, never a mix.
bool WriteFileAtomic(const std::string& path, std::string_view contents, std::string* err);

/// Creates a directory and its parents; true if it exists afterwards.
bool MakeDirs(const std::string& path, std::string* err);
/// Absolute form of a path (relative to the working directory), without resolving links;
/// the path itself when the working directory cannot be read.
std::string AbsolutePath(const std::string& path);

/// `s` cut to at most `max_bytes` (at a UTF-8 character boundary) with "..." added when cut.
std::string Abbreviate(std::string_view s, size_t max_bytes);

/// Quotes a string for messages: 'abc' with control characters escaped, cut after 80 bytes
/// (never inside a UTF-8 character).
std::string Quote(std::string_view s);

/// Current UTC time as "20261122T041100Z" (for run ids) and ISO-8601 ("2026-11-22T04:11:00.123Z").
std::string UtcStamp();
std::string IsoTime(int64_t unix_ms);
int64_t NowUnixMs();

/// Random lowercase hex string of n characters (from std::random_device).
std::string RandomHex(size_t n);

/// Hex SHA-256 of bytes (OpenSSL's EVP; libcurl already pulls libssl in).
std::string Sha256Hex(std::string_view data);

/// The JSON path of member `key` of the value at `base`: "$.inputs.prompt", or
/// "$.inputs['my key']" when the key is not a plain name.
std::string JsonPathMember(std::string_view base, std::string_view key);
/// The same, appended to *path (no new string per member when walking many values).
void AppendJsonPathMember(std::string* path, std::string_view key);

enum class HexCase { kUpper, kLower };
/// Percent-encodes everything but RFC 3986 unreserved characters (letters, digits, -_.~).
std::string PercentEncode(std::string_view s, HexCase hex_case = HexCase::kUpper);

bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
std::string Trim(std::string_view s);
/// The same, as a view into `s` (no copy).
std::string_view TrimView(std::string_view s);

}  // namespace comfyrun
