#!/usr/bin/env bash
# Guest vs native speed of the same CPU-bound workload (examples/compute/src/work.rs,
# compiled into both). Prints a Markdown section for BENCHMARKS.md on stdout.
#
#   bench/compute/run.sh > compute.md
#
# Env: BENCH_RUNS (hyperfine runs per command, default 30, min 20),
#      BENCH_LOOP_RUNS (alternating in-program timings per side, default 30),
#      BENCH_STEPS (loop steps, default the programs' own 20000000).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 30 20)
LOOP_RUNS=$(runs_from_env BENCH_LOOP_RUNS 30 10)
STEPS=$(runs_from_env BENCH_STEPS 20000000 1)

need hyperfine hyperfine
need python3 python3
need cargo cargo

cd "$ROOT"   # relative paths keep the printed commands copy-pasteable
build_kiln
IMAGE=$(build_guest compute)
KILN=target/release/kiln
log "building the native twin (release)"
# Its own target dir: the package is deliberately outside the root workspace.
cargo build --release --quiet --manifest-path bench/compute/Cargo.toml \
    --target-dir bench/compute/target >&2
NATIVE=bench/compute/target/release/compute-native
GUEST=("$KILN" run "$IMAGE" -- "$STEPS")
NATIVE=("$NATIVE" "$STEPS")
# hyperfine takes each command as one string (and splits it itself).
GUEST_CMD="${GUEST[*]}"
NATIVE_CMD="${NATIVE[*]}"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Speed is only comparable if both computed the same thing, bit for bit.
guest_sum=$("${GUEST[@]}" | grep '^checksum')
native_sum=$("${NATIVE[@]}" | grep '^checksum')
[[ $guest_sum == "$native_sum" ]] || die "checksums differ: guest '$guest_sum', native '$native_sum'"
log "both print: $guest_sum"

HF_CMD=$(printf "hyperfine -N --warmup 3 --runs %s '%s' '%s'" "$RUNS" "$GUEST_CMD" "$NATIVE_CMD")
log "$HF_CMD"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$TMP/hyperfine.json" \
    "$GUEST_CMD" "$NATIVE_CMD" >&2

# Wall time includes boot and process start; the programs' own "loop took"
# isolates the arithmetic. Alternating spreads the machine's noise over both.
log "collecting $LOOP_RUNS alternating in-program timings per side"
for ((i = 0; i < LOOP_RUNS; i++)); do
    "${GUEST[@]}" | sed -n 's/^loop took \([0-9]*\) us$/\1/p' >>"$TMP/guest.txt"
    "${NATIVE[@]}" | sed -n 's/^loop took \([0-9]*\) us$/\1/p' >>"$TMP/native.txt"
done

# Values go to python through the environment so the quoted heredoc needs no
# shell escaping.
export TMP RUNS LOOP_RUNS HF_CMD GUEST_CMD NATIVE_CMD
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) SUM=$guest_sum python3 - <<'PY'
import json, os, statistics as st
E = os.environ
med = st.median
res = json.load(open(f"{E['TMP']}/hyperfine.json"))["results"]
g_wall, n_wall = (med(r["times"]) for r in res)
g_loop = med(int(x) for x in open(f"{E['TMP']}/guest.txt").read().split())
n_loop = med(int(x) for x in open(f"{E['TMP']}/native.txt").read().split())
ratio = g_loop / n_loop

print("## Compute: guest vs native, same workload\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print("`examples/compute/src/work.rs` compiled into the release guest and into a native "
      "release binary (`bench/compute`, opt-level 3, panic = \"abort\"). "
      f"Both print `{E['SUM']}`.\n")
print(f"Command (from the repository root): `BENCH_RUNS={E['RUNS']} bench/compute/run.sh`, which runs\n")
print(f"```\n{E['HF_CMD']}\n```\n")
print(f"plus {E['LOOP_RUNS']} alternating runs of each for the in-program `loop took` time.\n")
print("| Measure | Guest (`kiln run`) | Native | Guest / native |\n|---|---|---|---|")
print(f"| loop time (in program) | {g_loop / 1e3:.2f} ms | {n_loop / 1e3:.2f} ms | {ratio:.3f}x |")
print(f"| wall time (hyperfine, same invocation) | {g_wall * 1e3:.2f} ms | {n_wall * 1e3:.2f} ms | {g_wall / n_wall:.3f}x |")
print()
print("| Target | Measured | Result |\n|---|---|---|")
print(f"| guest loop ≤ 1.3x native | {ratio:.3f}x | {'PASS' if ratio <= 1.3 else '**MISS**'} |")
PY
