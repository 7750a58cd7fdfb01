#!/usr/bin/env bash
# What debugging costs: the slowdown of a profiled CPU-bound guest, and the
# size of a core against the guest memory it holds. Prints a Markdown
# section for BENCHMARKS.md on stdout.
#
#   bench/debug/run.sh > debug.md
#
# 1. examples/compute with and without `--profile` (99 Hz), alternated
#    BENCH_RUNS times each: medians of the program's own `loop took` time and
#    of the wall time of `kiln run`, and their ratios.
# 2. examples/http-hello with `--core` and `--timeout 15s`, served BENCH_REQUESTS
#    requests through `-p` (passt): the core's size against the guest memory
#    the host backed (resident pages of the monitor's guest-memory mappings,
#    from /proc/PID/smaps, read just before the timeout).
# 3. What every background instance pays to be debuggable and profilable
#    (`kiln debug`, `kiln profile`): examples/compute with and without the
#    control socket its supervisor gives the monitor (`--control-socket`:
#    a detached debugger checked before each KVM_RUN, a disarmed sampler
#    per vCPU, the gdb thread), alternated BENCH_RUNS times each, as in 1.
#
# Env: BENCH_RUNS (default 30, min 10), BENCH_REQUESTS (default 200).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 30 10)
REQUESTS=$(runs_from_env BENCH_REQUESTS 200 1)
need python3 python3
need curl curl
need passt passt

cd "$ROOT"
log "building kiln (release)"
cargo build --release --quiet -p kiln-cli >&2
KILN=target/release/kiln
COMPUTE=$(build_guest compute)
HTTP=$(build_guest http-hello)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# One run: "WALL_US LOOP_US" on stdout.
timed() {
    local start end loop
    start=$(date +%s%N)
    loop=$("$@" 2>/dev/null | sed -n 's/^loop took \([0-9]*\) us$/\1/p')
    end=$(date +%s%N)
    echo "$(((end - start) / 1000)) $loop"
}

PLAIN=("$KILN" run "$COMPUTE")
PROFILED=("$KILN" run --profile "$TMP/compute.svg" "$COMPUTE")
log "profiling overhead: $RUNS alternating runs of each"
for ((i = 0; i < RUNS; i++)); do
    timed "${PLAIN[@]}" >>"$TMP/plain.txt"
    timed "${PROFILED[@]}" >>"$TMP/profiled.txt"
done
SAMPLES=$("${PROFILED[@]}" 2>&1 >/dev/null | sed -n 's/^kiln: profile of \([0-9]*\) samples.*/\1/p')

CONTROLLED=("$KILN" run --control-socket "$TMP/control" "$COMPUTE")
log "control socket: $RUNS alternating runs of each"
for ((i = 0; i < RUNS; i++)); do
    timed "${PLAIN[@]}" >>"$TMP/plain2.txt"
    timed "${CONTROLLED[@]}" >>"$TMP/controlled.txt"
done

log "core of http-hello after $REQUESTS requests"
PORT=$(free_port)
CORE=$TMP/http.core
"$KILN" run -m 256M --timeout 15s --core "$CORE" -p "$PORT:8080" "$HTTP" -- 8080 \
    >/dev/null 2>"$TMP/http.err" &
PIDS+=($!)
MONITOR=$!
wait_http "http://127.0.0.1:$PORT/"
for ((i = 0; i < REQUESTS; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" || die "request $i failed"
done
# The guest-memory mappings: the reservation (anonymous, the size of -m)
# and the image's segments mapped from its file over it.
python3 - "$MONITOR" "$ROOT/$HTTP" >"$TMP/touched.txt" <<'PY'
import sys
pid, image = sys.argv[1], sys.argv[2]
maps, current = [], None
for line in open(f"/proc/{pid}/smaps"):
    head = line.split()
    if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
        start, end = (int(x, 16) for x in head[0].split("-"))
        current = {"size": end - start, "path": head[5] if len(head) > 5 else "", "rss": 0}
        maps.append(current)
    elif head[0] == "Rss:":
        current["rss"] = int(head[1]) * 1024
guest = [m for m in maps if (m["path"] == "" and m["size"] >= 128 << 20) or m["path"] == image]
print(sum(m["rss"] for m in guest))
PY
wait "$MONITOR" || true
PIDS=()
[[ -f $CORE ]] || die "no core written: $(cat "$TMP/http.err")"

export TMP RUNS REQUESTS SAMPLES CORE_BYTES
CORE_BYTES=$(stat -c %s "$CORE")
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) \
    PLAIN_CMD="${PLAIN[*]}" PROFILED_CMD="${PROFILED[*]}" CONTROLLED_CMD="${CONTROLLED[*]}" \
    python3 - <<'PY'
import os, statistics as st
E = os.environ
def load(name):
    rows = [line.split() for line in open(f"{E['TMP']}/{name}.txt") if line.strip()]
    return [int(r[0]) for r in rows], [int(r[1]) for r in rows if len(r) > 1]
(pw, pl), (fw, fl) = load("plain"), load("profiled")
med = st.median
touched = int(open(f"{E['TMP']}/touched.txt").read())
core = int(E["CORE_BYTES"])
print("## Debugging: profiling overhead, core size, the control socket\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print("Command (from the repository root): `bench/debug/run.sh`.\n")
print(f"**Profiling** (`--profile`, default 99 Hz): `{E['PLAIN_CMD']}` against "
      f"`{E['PROFILED_CMD']}`, {E['RUNS']} alternating runs each; a profiled run took "
      f"{E['SAMPLES']} samples.\n")
print("| Measure (median) | Plain | Profiled | Profiled / plain |\n|---|---|---|---|")
print(f"| in-program `loop took` | {med(pl)/1000:.1f} ms | {med(fl)/1000:.1f} ms | {med(fl)/med(pl):.3f} |")
print(f"| wall time of `kiln run` | {med(pw)/1000:.1f} ms | {med(fw)/1000:.1f} ms | {med(fw)/med(pw):.3f} |")
print()
print(f"**Core size**: `examples/http-hello` (`-m 256M`) served {E['REQUESTS']} requests "
      "through `-p`, then `--timeout 15s` stopped it with `--core`. Touched memory is the "
      "resident size of the monitor's guest-memory mappings (`/proc/PID/smaps`), read "
      "just before the timeout.\n")
print("| Guest memory touched | Core file | Core / touched |\n|---|---|---|")
print(f"| {touched/2**20:.2f} MiB | {core/2**20:.2f} MiB | {core/touched:.2f} |")
(qw, ql), (cw, cl) = load("plain2"), load("controlled")
print()
print(f"**Control socket** (what a background instance pays for `kiln debug` and "
      f"`kiln profile` while neither runs): `{E['PLAIN_CMD']}` against "
      f"`{E['CONTROLLED_CMD']}`, {E['RUNS']} alternating runs each.\n")
print("| Measure (median) | Plain | Control socket | Control / plain |\n|---|---|---|---|")
print(f"| in-program `loop took` | {med(ql)/1000:.1f} ms | {med(cl)/1000:.1f} ms | {med(cl)/med(ql):.3f} |")
print(f"| wall time of `kiln run` | {med(qw)/1000:.1f} ms | {med(cw)/1000:.1f} ms | {med(cw)/med(qw):.3f} |")
PY
