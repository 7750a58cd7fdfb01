#!/usr/bin/env bash
# The C-library paths ordinary Rust code runs through most (slice compares
# and copies, allocation, formatting, a caught panic: bench/std/programs
# --bin hot-paths) as a Kiln guest and natively, alternating, in one run;
# with BENCH_BASE_KILN=PATH also the guest built and run by another kiln
# (an older tree's `target/release/kiln`), for a before/after ratio.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/hot-paths/run.sh > hot-paths.md
#   BENCH_BASE_KILN=../old/target/release/kiln bench/hot-paths/run.sh
#
# Env: BENCH_RUNS (alternating runs, default 7, min 3).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 7 3)
need python3 python3
need cargo cargo
cd "$ROOT"
PROGRAMS=bench/std/programs
KILN=target/release/kiln
build_kiln
guest_of() {
    local out
    out=$("$1" build --release "$PROGRAMS" --bin hot-paths)
    echo "${out% (*}"
}
log "building hot-paths as a guest and natively"
GUEST=$(guest_of "$KILN")
cargo build --release --quiet --manifest-path "$PROGRAMS/Cargo.toml" --bin hot-paths \
    --target-dir bench/std/target/native >&2
NATIVE=bench/std/target/native/release/hot-paths
BASE_GUEST=
if [[ -n ${BENCH_BASE_KILN:-} ]]; then
    log "building hot-paths with $BENCH_BASE_KILN"
    cp "$GUEST" "$GUEST.now"
    BASE_GUEST="$GUEST.base"
    cp "$(guest_of "$BENCH_BASE_KILN")" "$BASE_GUEST"
    mv "$GUEST.now" "$GUEST"
fi
export KILN GUEST NATIVE BASE_GUEST RUNS BENCH_BASE_KILN
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, statistics, subprocess
E = os.environ
runs = int(E["RUNS"])
commands = {"native": [E["NATIVE"]], "kiln": [E["KILN"], "run", E["GUEST"]]}
if E.get("BASE_GUEST"):
    commands["before"] = [E["BENCH_BASE_KILN"], "run", E["BASE_GUEST"]]
samples = {name: {} for name in commands}
order = []
for run in range(runs):
    for name, command in commands.items():
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            operation, nanos = line.split("\t")
            if operation not in order:
                order.append(operation)
            samples[name].setdefault(operation, []).append(float(nanos))
median = {name: {op: statistics.median(v) for op, v in ops.items()} for name, ops in samples.items()}
print("## Hot paths of the C library: Kiln guest vs native\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"Command: `bench/hot-paths/run.sh` ({runs} alternating runs of each, medians of ns per call)"
      + (": `before` is the same program built and run by the kiln of the tree before" if "before" in commands else "") + ".\n")
head = "| operation | native | Kiln | Kiln / native |"
rule = "|---|---|---|---|"
if "before" in commands:
    head += " before | before / native | Kiln / before |"
    rule += "---|---|---|"
print(head)
print(rule)
for op in order:
    n, k = median["native"][op], median["kiln"][op]
    row = f"| {op} | {n:.1f} ns | {k:.1f} ns | {k / n:.2f}x |"
    if "before" in commands:
        b = median["before"][op]
        row += f" {b:.1f} ns | {b / n:.2f}x | {k / b:.2f}x |"
    print(row)
PY
