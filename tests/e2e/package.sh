#!/usr/bin/env bash
# The Debian package and the installed layout. Runs CPack on the existing build (as
# scripts/package does, into a temporary folder) and checks the .deb:
#   - dpkg-deb -c: the binary, the module in lib/<multiarch>/comfyrun, the man page, both
#     completions, the systemd units, the examples, the docs and copyright;
#   - dpkg-deb -f: the version is project(VERSION), Depends comes from dpkg-shlibdeps;
#   - lintian: no error and no warning (accepted tags are overridden, with the reason, in
#     packaging/lintian-overrides, which the package ships);
#   - dpkg -x into a temporary root: the quickstart and an A/B test run from the installed
#     examples, from another directory, with the module found by the documented lookup (no
#     COMFYRUN_MEDIA_MODULE); --version prints the version; the man page renders with
#     `man -l` without a groff warning; the bash completion completes `doctor`.
# Also `cmake --install --prefix` (no --strip) gives a stripped binary.
# Never installs into the real system.
source "$(dirname "$0")/support/lib.sh"
unset COMFYRUN_MEDIA_MODULE
BUILD=$(cd "$(dirname "$COMFYRUN")" && pwd)
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  command -v $tool >/dev/null || fail "$tool is missing (scripts/setup installs it with SETUP_TESTS=1)"
done
version=$(sed -n 's/^project(comfyrun VERSION \([0-9.]*\) .*/\1/p' "$COMFYRUN_SOURCE_DIR/CMakeLists.txt")
[ -n "$version" ] || fail "no project(comfyrun VERSION ...) in CMakeLists.txt"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# --- build the package -------------------------------------------------------------------
(cd "$BUILD" && timeout 280 cpack -G DEB --config CPackConfig.cmake -B "$E2E_DIR/pkg" >"$E2E_DIR/cpack.log" 2>&1) ||
  fail "cpack failed: $(tail -20 "$E2E_DIR/cpack.log")"
deb="$E2E_DIR/pkg/comfyrun_${version}_${arch}.deb"
[ -f "$deb" ] || fail "no $deb: $(ls "$E2E_DIR/pkg")"
pass "cpack wrote comfyrun_${version}_${arch}.deb"

# --- contents ----------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > contents
for f in /usr/bin/comfyrun "/usr/lib/$multiarch/comfyrun/comfyrun_media.so" \
         /usr/share/man/man1/comfyrun.1.gz /usr/share/bash-completion/completions/comfyrun \
         /usr/share/zsh/vendor-completions/_comfyrun \
         /usr/lib/systemd/system/comfyrun@.service /usr/lib/systemd/system/comfyrun@.timer \
         /usr/libexec/comfyrun/cron-run \
         /usr/share/comfyrun/examples/quickstart.json /usr/share/comfyrun/examples/ab-tests/quickstart-prompts.json \
         /usr/share/doc/comfyrun/README.md /usr/share/doc/comfyrun/docs/media.md \
         /usr/share/doc/comfyrun/copyright /usr/share/doc/comfyrun/changelog.gz \
         /usr/share/lintian/overrides/comfyrun; do
  grep -qxF "$f" contents || fail "$f is not in the package: $(cat contents)"
done
for g in "$COMFYRUN_SOURCE_DIR"/graphs/*.json; do
  grep -qxF "/usr/share/comfyrun/examples/$(basename "$g")" contents || fail "example $(basename "$g") missing"
done
! grep -q '/usr/bin/comfyrun_media.so' contents || fail "the module is in bin/"
dpkg-deb -c "$deb" | awk '$2 != "root/root" {bad = 1; print} END {exit bad}' || fail "files not owned by root"
pass "dpkg-deb -c lists the binary, module, man page, completions, units, examples and docs"

[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version $(dpkg-deb -f "$deb" Version), CMakeLists.txt says $version"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libstdc++6 libcurl4 libssl3 libavcodec libavformat libavfilter libfmt; do
  grep -q "$lib" <<<"$depends" || fail "Depends has no $lib (dpkg-shlibdeps): $depends"
done
# dpkg-shlibdeps writes versioned dependencies: "libc6 (>= 2.34)".
grep -Eq 'libc6 \(>= [0-9.]+\)' <<<"$depends" || fail "Depends is not from dpkg-shlibdeps: $depends"
pass "dpkg-deb -f: Version $version, Depends from dpkg-shlibdeps ($(tr ',' '\n' <<<"$depends" | wc -l) packages)"

# --- lintian -----------------------------------------------------------------------------
if command -v lintian >/dev/null; then
  set +e; timeout 280 lintian -I --tag-display-limit 0 "$deb" >lintian.out 2>lintian.err; rc=$?; set -e
  [ $rc -le 1 ] || fail "lintian did not run (exit $rc): $(cat lintian.err)"
  grep -E '^[EW]: ' lintian.out > lintian.bad || true
  [ ! -s lintian.bad ] || fail "lintian reports errors or warnings: $(cat lintian.bad)"
  sed "s/^/  lintian: /" lintian.out
  pass "lintian: no error, no warning (the info lines above)"
else
  fail "lintian is missing (scripts/setup installs it with SETUP_TESTS=1)"
fi

# --- installed into a temporary root -----------------------------------------------------
dpkg -x "$deb" root
bin="$E2E_DIR/root/usr/bin/comfyrun"
file -L "$bin" | grep -q ', stripped' || fail "the packaged binary is not stripped: $(file -L "$bin")"
expect_exit 0 "$bin" --version
grep -q "^comfyrun $version\b" last.out || fail "--version: $(cat last.out)"
mkdir elsewhere
cd elsewhere
expect_exit 0 "$bin" run "$E2E_DIR/root/usr/share/comfyrun/examples/quickstart.json" --offline -q --json
[ "$(jq -r .status "$E2E_DIR/last.out")" = succeeded ] || fail "quickstart from the package: $(cat "$E2E_DIR/last.out" "$E2E_DIR/last.err")"
cd "$E2E_DIR"
pass "the packaged quickstart runs from another directory, module found in lib/$multiarch/comfyrun"
# The A/B tests name their graph relative to their folder: installed, one level up.
examples=root/usr/share/comfyrun/examples
for t in "$examples"/ab-tests/*.json; do
  g=$(jq -r '.graph // empty' "$t")
  [ -z "$g" ] || [ -f "$examples/ab-tests/$g" ] || fail "$(basename "$t") names $g, which is not installed"
done
[ "$(jq -r .graph "$examples/ab-tests/quickstart-prompts.json")" = ../quickstart.json ] || fail "graph path not rewritten"
pass "the installed A/B tests find their graphs"

# The doctor of the installed tree names the module where the lookup found it.
expect_exit 0 "$bin" doctor -o "$E2E_DIR/out"
grep -q "^ok .*media module: $E2E_DIR/root/usr/lib/$multiarch/comfyrun/comfyrun_media.so loads" last.out ||
  fail "doctor from the package: $(cat last.out)"
pass "doctor of the installed tree finds the module in lib/$multiarch/comfyrun"

man_page=root/usr/share/man/man1/comfyrun.1.gz
LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$man_page" >man.txt 2>man.err || fail "man -l failed: $(cat man.err)"
[ ! -s man.err ] || fail "man -l warnings: $(cat man.err)"
for want in NAME SYNOPSIS DESCRIPTION COMMANDS "comfyrun doctor" "comfyrun run" "comfyrun cache prune" "EXIT STATUS"; do
  grep -q "$want" man.txt || fail "the man page has no '$want'"
done
# One source: the description of `run` in --help is in the page too.
"$bin" run --help | sed -n '/^DESCRIPTION$/{n;p;q}' | awk '{print $1, $2, $3}' > first-words
# man justifies its lines (runs of spaces) and may break them: compare with white space folded.
tr -s ' \n' '  ' < man.txt | grep -qF "$(cat first-words)" || fail "the man page lacks run's description: $(cat first-words)"
pass "man -l renders comfyrun.1.gz without a warning; it has every command"

bash -c "source root/usr/share/bash-completion/completions/comfyrun
  COMP_WORDS=(comfyrun do); COMP_CWORD=1; COMP_LINE='comfyrun do'; COMP_POINT=\${#COMP_LINE}
  \$(complete -p comfyrun | sed 's/.*-F \([^ ]*\) .*/\1/') comfyrun do comfyrun; printf '%s\n' \"\${COMPREPLY[@]}\"" \
  > completion.out 2>&1 || true
grep -qx doctor completion.out || fail "bash completion does not complete 'do' to doctor: $(cat completion.out)"
grep -q 'ExecStart=/usr/libexec/comfyrun/cron-run' root/usr/lib/systemd/system/comfyrun@.service ||
  fail "the unit does not run the installed cron-run: $(grep ExecStart root/usr/lib/systemd/system/comfyrun@.service)"
grep -q 'COMFYRUN=/usr/bin/comfyrun' root/usr/lib/systemd/system/comfyrun@.service || fail "the unit's COMFYRUN"
pass "the installed completion completes doctor; the unit runs the installed cron-run and binary"

# --- cmake --install, without --strip ----------------------------------------------------
timeout 120 cmake --install "$BUILD" --prefix "$E2E_DIR/prefix" >install.log 2>&1 || fail "cmake --install: $(cat install.log)"
file -L prefix/bin/comfyrun | grep -q ', stripped' || fail "cmake --install left debug info: $(file -L prefix/bin/comfyrun)"
[ -f "prefix/lib/$multiarch/comfyrun/comfyrun_media.so" ] || fail "cmake --install: no module in lib/$multiarch/comfyrun"
expect_exit 0 prefix/bin/comfyrun doctor -o out-prefix
grep -q "^ok .*media module: $E2E_DIR/prefix/lib/$multiarch/comfyrun/comfyrun_media.so loads" last.out ||
  fail "the installed binary does not find its module: $(cat last.out)"
pass "cmake --install --prefix P: stripped binary, module in lib/$multiarch/comfyrun and found there"
