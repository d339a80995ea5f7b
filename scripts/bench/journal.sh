#!/usr/bin/env bash
# Journal benchmark: 100k-record replay time and append fsync counts per durability.
#   scripts/bench/journal.sh [records]      
# Compiles tests/perf/journal_perftest.cc with just the journal and its helpers (so it
# works while other modules are mid-edit), then runs it in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags="-std=c++20 -O2 -DNDEBUG -Iinclude"
pids=()
for src in src/engine/journal.cc src/core/json_fast.cc src/core/util.cc src/core/error_type.cc tests/perf/journal_perftest.cc; do
  c++ $flags -c "$src" -o "$out/$(basename "$src").o" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
c++ -o "$out/journal_perftest" "$out"/*.o -lsimdjson -lcrypto -lfmt -lpthread
"$out/journal_perftest" "${1:-100000}" "$out"
