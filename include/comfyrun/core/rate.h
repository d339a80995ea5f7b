#pragma once
// Rates as workflows write them ("60/min"): parsed here, in core, for the workflow loader;
// enforced by engine/rate_limit.h.
#include <map>
#include <string>
#include <string_view>

namespace comfyrun {

/// Parses "60/min", "2/s", "2/sec", "1000/hour", "5/minute", "1/h" into starts per second.
/// False with *err when malformed or not positive.
bool ParseRate(std::string_view text, double* per_second, std::string* err);
/// "60/min", "2/s" or "0.5/min": a rate for messages.
std::string FormatRate(double per_second);

/// Rates per provider pool where the provider documents one (starts per second), used when
/// the workflow declares none (docs/queue-providers.md): the node types' default_pool_rate,
/// which the provider registry declares. Concurrency defaults are their default_pool_depth.
std::map<std::string, double> DefaultPoolRates();

/// The least time `nodes` starts take at `per_second` (the bucket's first token is free).
double RateBoundSeconds(size_t nodes, double per_second);

}  // namespace comfyrun
