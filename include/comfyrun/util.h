#pragma once
// Generic helpers. Includes no other comfyrun header.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace comfyrun {

/// Parses a duration: a number of seconds ("2.5") or a number with one unit
/// ("500ms", "10s", "15m", "2h", "1d"). Returns seconds, or nullopt with *err set.
std::optional<double> ParseDuration(std::string_view text, std::string* err);

/// Formats seconds for people: "850ms", "12.3s", "4m05s", "2h03m".
std::string FormatDuration(double seconds);

/// Levenshtein distance, for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b);

/// The candidate closest to `word` if it is close enough to be a likely typo, else "".
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

/// Reads a whole file. Returns false with *err ("no such file", ...) on failure.
bool ReadFile(const std::string& path, std::string* contents, std::string* err);

/// Writes a file atomically: a temp file beside it, fsync, rename. Readers see the old or the
/// new contents, never a mix.
bool WriteFileAtomic(const std::string& path, std::string_view contents, std::string* err);

/// Creates a directory and its parents; true if it exists afterwards.
bool MakeDirs(const std::string& path, std::string* err);

/// Quotes a string for messages: 'abc' with control characters escaped, cut at 80 chars.
std::string Quote(std::string_view s);

/// Current UTC time as "20261122T041100Z" (for run ids) and ISO-8601 ("2026-11-22T04:11:00.123Z").
std::string UtcStamp();
std::string IsoTime(int64_t unix_ms);
int64_t NowUnixMs();

/// Random lowercase hex string of n characters (from std::random_device).
std::string RandomHex(size_t n);

/// Hex SHA-256 of bytes (OpenSSL's EVP; libcurl already pulls libssl in).
std::string Sha256Hex(std::string_view data);

bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
std::string Trim(std::string_view s);

}  // namespace comfyrun
