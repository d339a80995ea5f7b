#pragma once
// Between the journal's writer (journal.cc) and its reader (journal_replay.cc): the writer
// keeps a mirror of the run's state by folding each appended record the way the reader folds
// a line read back. Private to src/engine.
#include "comfyrun/core/json.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

class JsonObjectText;

namespace journal_internal {

/// Folds a record just appended into `replay` (the writer's mirror), as ReadJournal would.
void FoldAppended(Json& record, JournalReplay* replay);
void FoldAppended(JsonObjectText& record, JournalReplay* replay);

}  // namespace journal_internal
}  // namespace comfyrun
