#!/usr/bin/env bash
# Every command's --help reads like a man page: NAME, SYNOPSIS, DESCRIPTION, OPTIONS,
# EXIT STATUS (with the codes) and EXAMPLES (that use the command), no line wider than 80
# columns; and docs/comfyrun.1.md has a section for every command.
#
# The same walk writes docs/comfyrun.1.md from the binary's help:
#   WRITE_MANUAL=docs/comfyrun.1.md COMFYRUN=build/comfyrun COMFYRUN_SOURCE_DIR=$PWD bash tests/e2e/help.sh
source "$(dirname "$0")/support/lib.sh"

# commands_of "CMD...": the command names listed under COMMANDS in `comfyrun CMD... --help`.
commands_of() {
  # shellcheck disable=SC2086
  timeout 20 "$COMFYRUN" $1 --help | awk '/^COMMANDS$/ {on = 1; next} on && /^$/ {exit} on && /^  [a-z]/ {print $1}'
}

commands=("")
for c in $(commands_of ""); do
  commands+=("$c")
  for sub in $(commands_of "$c"); do commands+=("$c $sub"); done
done
[ "${#commands[@]}" -ge 14 ] || fail "expected at least 13 commands, found: ${commands[*]}"

manual="$E2E_DIR/manual.md"
{
  echo "# comfyrun(1)"
  echo
  echo "The help of every command, as \`comfyrun COMMAND --help\` prints it. Generated from the binary by"
  echo "\`WRITE_MANUAL=docs/comfyrun.1.md COMFYRUN=build/comfyrun COMFYRUN_SOURCE_DIR=\$PWD bash tests/e2e/help.sh\`;"
  echo "the texts live in \`src/cli/cli.cc\`."
} >"$manual"

for c in "${commands[@]}"; do
  name="comfyrun${c:+ $c}"
  # shellcheck disable=SC2086
  expect_exit 0 "$COMFYRUN" $c --help
  help="$E2E_DIR/last.out"
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
    grep -qx "$section" "$help" || fail "'$name --help' has no $section section"
  done
  awk '/^EXIT STATUS$/ {on = 1; next} on && /^$/ {exit} on' "$help" | grep -Eq '^  0 ' ||
    fail "'$name --help': EXIT STATUS does not give exit code 0"
  awk '/^EXAMPLES$/ {on = 1; next} on && /^[A-Z]/ {exit} on' "$help" | grep -q "$name" ||
    fail "'$name --help': no example uses '$name'"
  grep -q "^  $name - " "$help" || fail "'$name --help': NAME does not start with '$name - '"
  wide=$(awk 'length > 80' "$help")
  [ -z "$wide" ] || fail "'$name --help' has lines wider than 80 columns: $wide"
  { echo; echo "## $name"; echo; echo '```text'; cat "$help"; echo '```'; } >>"$manual"
done
pass "${#commands[@]} help pages with NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES"

if [ -n "${WRITE_MANUAL:-}" ]; then
  cd - >/dev/null
  cp "$manual" "$WRITE_MANUAL"
  echo "wrote $WRITE_MANUAL"
  exit 0
fi
doc="$COMFYRUN_SOURCE_DIR/docs/comfyrun.1.md"
[ -f "$doc" ] || fail "docs/comfyrun.1.md is missing"
for c in "${commands[@]}"; do
  grep -qx "## comfyrun${c:+ $c}" "$doc" || fail "docs/comfyrun.1.md has no section for 'comfyrun${c:+ $c}' (regenerate it: see its first lines)"
done
cmp -s "$manual" "$doc" || echo "note: docs/comfyrun.1.md differs from the current --help texts; regenerate it (see its first lines)" >&2
pass "docs/comfyrun.1.md has a section for every command"
