#!/usr/bin/env bash
# The heap's per-vCPU caches, side by side: one test binary built twice by
# `kiln test` (with the C library before the caches and with this tree's),
# run alternately with the native build of the same tests. The binaries
# come from bench/test-suites (run it first for BENCH_CRATE).
#
#   BENCH_BEFORE=PATH bench/heap/run.sh > heap.md
#
# Env: BENCH_CRATE (default memchr), BENCH_BEFORE (the test binary built by
#      the earlier kiln), BENCH_ALT_RUNS (default 3, min 1).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CRATE=${BENCH_CRATE:-memchr}
RUNS=$(runs_from_env BENCH_ALT_RUNS 3 1)
[[ -n ${BENCH_BEFORE:-} && -x ${BENCH_BEFORE:-} ]] || die "set BENCH_BEFORE to the test binary built before the change"
cd "$ROOT"
build_kiln
KILN="$ROOT/target/release/kiln"
DIR="$ROOT/bench/test-suites/target/crates/$CRATE"
[[ -d $DIR ]] || die "no $DIR: run BENCH_CRATES=$CRATE bench/test-suites/run.sh first"
newest() { find "$1" -maxdepth 1 -type f -name "${CRATE//-/_}-*" ! -name '*.d' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2; }
(cd "$DIR" && "$KILN" test . --lib -- --list > /dev/null 2>&1 && cargo test --lib --no-run -q 2> /dev/null)
AFTER=$(newest "$DIR/target/kiln/x86_64-unknown-linux-gnu/debug/deps")
NATIVE=$(newest "$DIR/target/debug/deps")
log "before: $BENCH_BEFORE; after: $AFTER; native: $NATIVE"
# seconds CMD...: the harness's own "finished in" figure.
seconds() { (cd "$DIR" && "$@" -q 2>&1) | sed -n 's/.*finished in \([0-9.]*\)s.*/\1/p' | tail -1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for ((i = 0; i < RUNS; i++)); do
    log "round $((i + 1)) of $RUNS"
    seconds "$KILN" run "$BENCH_BEFORE" -- >> "$TMP/before"
    seconds "$KILN" run "$AFTER" -- >> "$TMP/after"
    seconds "$NATIVE" >> "$TMP/native"
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
B=$(median "$TMP/before"); A=$(median "$TMP/after"); N=$(median "$TMP/native")
echo "## The heap's per-vCPU caches: a test suite before and after"
echo
echo "_Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(machine_note)._"
echo
echo "Command: \`BENCH_CRATE=$CRATE BENCH_ALT_RUNS=$RUNS BENCH_BEFORE=... bench/heap/run.sh\`: $CRATE's unit tests (two test threads, the harness's default on 2 CPUs), $RUNS alternating rounds; medians of the harness's own time."
echo
echo "| build | median | vs native |"
echo "|---|---|---|"
printf '| Kiln, before the per-vCPU caches | %s s | %.2fx |\n' "$B" "$(echo "$B / $N" | bc -l)"
printf '| Kiln, this tree | %s s | %.2fx |\n' "$A" "$(echo "$A / $N" | bc -l)"
printf '| native | %s s | 1.00x |\n' "$N"
printf '\nThis tree against before: %.2fx.\n' "$(echo "$A / $B" | bc -l)"
