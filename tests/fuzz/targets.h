#pragma once
// The bodies of the libFuzzer targets (tests/fuzz/*_fuzzer.cc), kept apart from their mains
// so that tests/fuzz_regression_test.cc replays the same code on the saved inputs in the
// normal (gcc, unsanitized) build.
//
// Each function takes one input, runs a parser of untrusted text on it and checks the
// parser's contract (no exception, and the invariants listed with each function). A broken
// invariant throws FuzzFailure: under libFuzzer the uncaught exception aborts, which is
// reported as a crash with the input saved; under doctest it fails the test.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace comfyrun::fuzz {

struct FuzzFailure : std::logic_error {
  using std::logic_error::logic_error;
};

/// Workflow JSON text -> LoadWorkflowText (shape, templates, validation). A workflow that
/// loads is a DAG: the plan's stages hold every node once, after all of its dependencies.
/// Errors carry a message; loading twice gives the same verdict.
void FuzzWorkflow(const uint8_t* data, size_t size);

/// Any text as a JSON string value -> FindReferences / ResolveTemplates / ParseReference.
/// References found are substrings of the text; text without "<<" or "{{" resolves to
/// itself; resolution fails only with a message.
void FuzzTemplate(const uint8_t* data, size_t size);

/// Journal file bytes -> ReadJournal with and without events (same folded state), then,
/// when it reads, JournalWriter::Open + Append: the appended record is the last one read
/// back, any torn tail is gone, nothing else is lost.
void FuzzJournal(const uint8_t* data, size_t size);

/// A reply body -> the Gemini image, Veo operation and Sora video readers (replies.h) and
/// the error-reply readers (provider_util.h) under several HTTP statuses; plus the small
/// parsers of provider headers and payloads (delays, Retry-After, base64, URL origins).
void FuzzProviderReplies(const uint8_t* data, size_t size);

/// A reply body -> the ComfyUI /prompt, /history, /queue and /upload readers; the output
/// files found get a local name that stays inside the node folder. With a second part after
/// a newline: the first part as a graph, the second as `set` overrides.
void FuzzComfyuiProtocol(const uint8_t* data, size_t size);

/// Dispatch by target name ("workflow", "template", ...); false for an unknown name.
bool RunFuzzTarget(const std::string& name, const uint8_t* data, size_t size);

}  // namespace comfyrun::fuzz
