#!/usr/bin/env bash
# Density: how many idle instances one machine holds, what each costs in
# host memory, and how fast `kiln run -d` launches them. The guest is the
# probe test guest idling in the Block hypercall (no deadline), --memory 8M.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/instances/run.sh > instances.md
#
# Env: BENCH_INSTANCES (default 1000, min 100),
#      BENCH_PARALLEL (kiln run -d processes at once, default 4; 1 is sequential).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

N=$(runs_from_env BENCH_INSTANCES 1000 100)
P=$(runs_from_env BENCH_PARALLEL 4 1)
need python3 python3
cd "$ROOT"
KILN=target/release/kiln
build_kiln
log "building the idle guest (tests/guests/probe)"
IMAGE=$("$KILN" build --release tests/guests/probe)
IMAGE=${IMAGE% (*}

KILN_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-instances.XXXXXX")
export KILN_STATE_DIR
cleanup() {
    "$KILN" ps --format json | python3 -c 'import json, sys; [print(i["id"]) for i in json.load(sys.stdin)]' \
        | xargs -r "$KILN" rm --force >/dev/null 2>&1 || true
    rm -rf "$KILN_STATE_DIR"
}
trap cleanup EXIT

mem_available_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
sync; sleep 1
BEFORE=$(mem_available_kib)
log "launching $N instances, $P kiln run -d at a time"
START=$(date +%s%N)
seq 0 $((N - 1)) | xargs -P "$P" -I{} \
    "$KILN" run -d --name "idle-{}" --memory 8M "$IMAGE" -- block-forever >/dev/null
END=$(date +%s%N)
sleep 2
AFTER=$(mem_available_kib)
"$KILN" ps --format json >"$KILN_STATE_DIR/ps.json"

# PSS splits shared pages (the kiln binary's text) among the processes that map them.
export N P START END BEFORE AFTER IMAGE KILN_STATE_DIR
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import json, os, statistics as st
E = os.environ
n = int(E["N"])
rows = json.load(open(f"{E['KILN_STATE_DIR']}/ps.json"))
running = [r for r in rows if r["status"] == "running"]
def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
pss, rss = [], []
for r in running:
    state = json.load(open(f"{E['KILN_STATE_DIR']}/instances/{r['id']}/state.json"))
    parts = [pss_kib(state["supervisor"][0]), pss_kib(state["monitor_pid"])]
    if None not in parts:
        pss.append(sum(parts))
    if r["memory_bytes"]:
        rss.append(r["memory_bytes"] / 1024)
seconds = (int(E["END"]) - int(E["START"])) / 1e9
drop = (int(E["BEFORE"]) - int(E["AFTER"])) / n
print("## Instances: density and launch rate\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"{n} idle instances (`tests/guests/probe block-forever`, `--memory 8M`), each a supervisor "
      f"process and a monitor, launched by `kiln run -d`, {E['P']} at a time; the guests idle in the "
      "Block hypercall.\n")
print(f"Command (from the repository root): `BENCH_INSTANCES={n} BENCH_PARALLEL={E['P']} bench/instances/run.sh`\n")
print("| Measure | Value |\n|---|---|")
print(f"| instances running after the launches | {len(running)} of {n} |")
print(f"| launch rate (`kiln run -d` returns once the monitor runs) | {n / seconds:.1f} per second ({seconds:.2f} s) |")
print(f"| host memory per instance: drop of MemAvailable / {n} | {drop / 1024:.2f} MiB |")
print(f"| PSS per instance (supervisor + monitor), median | {st.median(pss) / 1024:.2f} MiB |")
print(f"| monitor RSS per instance (own pages + guest pages touched), median | {st.median(rss) / 1024:.2f} MiB |")
PY
