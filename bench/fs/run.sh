#!/usr/bin/env bash
# Files: the same std program (bench/fs/program) as a Kiln guest and as a
# native process, alternating: reading a 1 MiB file (baked into the image /
# from the page cache), sequential 1 MiB writes and reads and small-file
# create and stat rates (on a host volume / the same host filesystem).
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/fs/run.sh > fs.md
#
# Env: BENCH_ALT_RUNS (alternating guest/native runs, default 15, min 10),
#      BENCH_DIR (where both sides work, default a new directory in $TMPDIR
#                 or /tmp; the repository's tree may be slowed by watchers).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ALT_RUNS=$(runs_from_env BENCH_ALT_RUNS 15 10)
need python3 python3
need cargo cargo

cd "$ROOT"
PROGRAM=bench/fs/program
KILN=target/release/kiln
build_kiln

# Both sides work in one directory of the same host filesystem, so the
# disk is the same.
WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/kiln-bench-fs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/data" "$WORK/guest" "$WORK/native"
head -c 1048576 /dev/urandom >"$WORK/data/1mib.bin"

log "building the guest (kiln build --release, 1 MiB file baked in)"
GUEST=$("$KILN" build --release "$PROGRAM" --include "$WORK/data/1mib.bin:/bench/1mib.bin")
GUEST=${GUEST% (*}
GUEST=${GUEST#"$ROOT"/}
log "building the native program (cargo build --release)"
cargo build --release --quiet --manifest-path "$PROGRAM/Cargo.toml" --target-dir bench/fs/target/native >&2
NATIVE=bench/fs/target/native/release/fs-bench

G_CMD=("$KILN" run --memory 256M --timeout 120s -v "$WORK/guest:/vol" "$GUEST" -- /vol /bench/1mib.bin)
N_CMD=("$NATIVE" "$WORK/native" "$WORK/data/1mib.bin")
TMP=$(mktemp -d)
trap 'rm -rf "$WORK" "$TMP"' EXIT
log "$ALT_RUNS alternating runs per side"
for ((i = 0; i < ALT_RUNS; i++)); do
    "${G_CMD[@]}" >>"$TMP/guest.txt" || die "guest run failed: ${G_CMD[*]}"
    "${N_CMD[@]}" >>"$TMP/native.txt" || die "native run failed: ${N_CMD[*]}"
done

FS_NOTE="$(df -T "$WORK" | awk 'NR == 2 {print $2}') on $(df "$WORK" | awk 'NR == 2 {print $1}')"
export TMP ALT_RUNS FS_NOTE BENCH_DIR="${BENCH_DIR:-}" G_CMD_TEXT="${G_CMD[*]}" N_CMD_TEXT="${N_CMD[*]}"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, re, statistics as st, sys
E = os.environ
def figures(side):
    out = {}
    for line in open(f"{E['TMP']}/{side}.txt"):
        if m := re.match(r"^([\w-]+): ([\d.]+) (\S+)$", line):
            out.setdefault(m[1], []).append(float(m[2]))
            out.setdefault("unit:" + m[1], m[3])
    for key, vals in out.items():
        if not key.startswith("unit:") and len(vals) != int(E["ALT_RUNS"]):
            sys.exit(f"error: {side}: {key}: expected {E['ALT_RUNS']} figures, found {len(vals)}")
    return out
g, n = figures("guest"), figures("native")
print("## Files: Kiln guest vs native\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print("One std program (`bench/fs/program`) as a Kiln guest with a 1 MiB file baked in and a "
      "host volume, and as a native process, both working in one directory of the same host "
      f"filesystem (`{E['FS_NOTE']}`); "
      f"{E['ALT_RUNS']} alternating runs per side, medians.\n")
bench_dir = f"BENCH_DIR={E['BENCH_DIR']} " if E.get("BENCH_DIR") else ""
print(f"Command (from the repository root): `{bench_dir}BENCH_ALT_RUNS={E['ALT_RUNS']} bench/fs/run.sh`, which alternates\n")
print("```\n" + E["G_CMD_TEXT"] + "\n" + E["N_CMD_TEXT"] + "\n```\n")
names = {
    "read": "read a 1 MiB file (guest: baked in the image; native: page cache)",
    "seq-write": "sequential 1 MiB writes, 64 MiB (guest: volume)",
    "fsync-64MiB": "fsync after those writes",
    "seq-read": "sequential 1 MiB reads of that file (guest: volume)",
    "create": "create + write 4 KiB + close (guest: volume)",
    "stat": "stat of those files (guest: volume)",
}
print("| Measure | Kiln | native | Kiln / native |\n|---|---|---|---|")
for key, label in names.items():
    unit = g["unit:" + key]
    gm, nm = st.median(g[key]), st.median(n[key])
    ratio = f"{gm / nm:.2f}x" if nm else "-"
    print(f"| {label} | {gm:,.2f} {unit} | {nm:,.2f} {unit} | {ratio} |")
PY
