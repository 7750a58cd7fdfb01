#!/usr/bin/env bash
# Console output: 100,000 `println!` lines from an ordinary std program
# (tests/guests/std-console, `lines 100000`) as a Kiln image and natively,
# into a pipe and into /dev/null, side by side in one hyperfine invocation;
# checks the two outputs are byte-identical first. Prints a Markdown section
# for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/console/run.sh > console.md
#
# Env: BENCH_RUNS (hyperfine runs, default 20, min 10), BENCH_LINES (100000).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 20 10)
LINES=$(runs_from_env BENCH_LINES 100000 1000)
need hyperfine hyperfine
need python3 python3
need cargo cargo

cd "$ROOT"
KILN=target/release/kiln
build_kiln
GUEST_DIR=tests/guests/std-console
log "building $GUEST_DIR (kiln build --release, and natively)"
IMAGE=$("$KILN" build --release "$GUEST_DIR")
IMAGE=${IMAGE% (*}
IMAGE=${IMAGE#"$ROOT"/}
cargo build --release --quiet --manifest-path tests/guests/Cargo.toml -p std-console \
    --target-dir bench/console/target >&2
NATIVE=bench/console/target/release/std-console

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$KILN" run "$IMAGE" -- lines "$LINES" >"$TMP/guest.out"
"$NATIVE" lines "$LINES" >"$TMP/native.out"
cmp -s "$TMP/guest.out" "$TMP/native.out" || die "the guest's output differs from the native program's"

log "timing ($RUNS runs each, one hyperfine invocation)"
# `| cat`: into a pipe, as a terminal or a log collector reads it.
hyperfine --warmup 2 --runs "$RUNS" --export-json "$TMP/times.json" \
    -n "kiln, pipe" "$KILN run $IMAGE -- lines $LINES | cat >/dev/null" \
    -n "native, pipe" "$NATIVE lines $LINES | cat >/dev/null" \
    -n "kiln, /dev/null" "$KILN run $IMAGE -- lines $LINES >/dev/null" \
    -n "native, /dev/null" "$NATIVE lines $LINES >/dev/null" >&2
"$KILN" run --verbose "$IMAGE" -- lines "$LINES" 2>"$TMP/verbose" >/dev/null

export TMP RUNS LINES IMAGE NATIVE
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import json, os, re
E = os.environ
tmp = E["TMP"]
times = {r["command"]: r for r in json.load(open(f"{tmp}/times.json"))["results"]}
ms = lambda name: times[name]["median"] * 1000
verbose = open(f"{tmp}/verbose").read()
exits = re.search(r"console write\D*(\d+)", verbose)
lines = int(E["LINES"])
print(f"## Console: {lines:,} `println!` lines, Kiln guest vs native ({E['WHEN']})\n")
print(f"{E['MACHINE']}. `bench/console/run.sh`, {E['RUNS']} runs each in one hyperfine")
print(f"invocation (shell included: `| cat` and redirections go through `sh`); the outputs")
print(f"are byte-identical. `tests/guests/std-console lines {lines}`: std's line-buffered")
print(f"stdout, one `write(1, …)` per line.\n")
print("| into | Kiln (median) | native (median) | ratio |")
print("|---|---|---|---|")
for into in ["pipe", "/dev/null"]:
    k, n = ms(f"kiln, {into}"), ms(f"native, {into}")
    print(f"| {into} | {k:.1f} ms | {n:.1f} ms | {k / n:.2f}x |")
print()
count = exits.group(1) if exits else "0"
print(f"`ConsoleWrite` exits in one run (`kiln run --verbose`): {count}.")
print("Before the console's ring (one exit per line) the same output took 6.4-7.3 s")
print("(issue 17). Target: within 3x of native.")
PY
