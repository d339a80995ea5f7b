#pragma once
// SIGINT/SIGTERM for the executor (internal to src/engine): the handler only counts.
namespace comfyrun {

/// How many interrupts arrived since the last reset (the executor stops cleanly on the first).
int InterruptCount();

}  // namespace comfyrun
