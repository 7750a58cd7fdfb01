#!/usr/bin/env bash
# Density: how many idle instances one machine holds, what each costs in
# host memory, and how fast `kiln run -d` launches them. The guest is the
# probe test guest idling in the Block hypercall (no deadline), or with
# BENCH_APP=http-hello the tokio+hyper server, each instance publishing its
# own host port with -p (so each has a passt), answering one GET before
# the memory is read; at Kiln's default memory limit unless BENCH_MEMORY
# gives one.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/instances/run.sh > instances.md
#
# Env: BENCH_INSTANCES (default 1000, min 100),
#      BENCH_PARALLEL (kiln run -d processes at once, default 4; 1 is sequential),
#      BENCH_APP (probe, the default, or http-hello),
#      BENCH_PORT (http-hello: the first host port, default 20000),
#      BENCH_NET (http-hello: user, the default, a passt per instance, or
#      ports, the monitor forwarding the published port itself),
#      BENCH_MEMORY (a --memory value, e.g. 8M; default: none, Kiln's default),
#      BENCH_KSM=1 (root: run the kernel's same-page merging, which Kiln's
#      passt processes opt into, during the run and wait for two full scans
#      before reading the memory; the KSM settings are restored at the end).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

N=$(runs_from_env BENCH_INSTANCES 1000 100)
P=$(runs_from_env BENCH_PARALLEL 4 1)
APP=${BENCH_APP:-probe}
PORT=$(runs_from_env BENCH_PORT 20000 1024)
NET=${BENCH_NET:-user}
MEMORY=${BENCH_MEMORY:-}
MEMORY_ARGS=()
[[ -n $MEMORY ]] && MEMORY_ARGS=(--memory "$MEMORY")
[[ $NET == user || $NET == ports ]] || die "BENCH_NET must be user or ports, got '$NET'"
need python3 python3
cd "$ROOT"
KILN=target/release/kiln
build_kiln
case $APP in
    probe)
        log "building the idle guest (tests/guests/probe)"
        IMAGE=$("$KILN" build --release tests/guests/probe)
        IMAGE=${IMAGE% (*}
        GUEST_ARGS=(-- block-forever)
        ;;
    http-hello)
        need passt passt
        ((PORT + N <= 65536)) || die "BENCH_PORT + BENCH_INSTANCES is past port 65535"
        log "building examples/http-hello"
        IMAGE=$(build_guest http-hello)
        GUEST_ARGS=()
        ;;
    *) die "BENCH_APP must be probe or http-hello, got '$APP'" ;;
esac

KILN_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-instances.XXXXXX")
export KILN_STATE_DIR
cleanup() {
    "$KILN" ps --format json | python3 -c 'import json, sys; [print(i["id"]) for i in json.load(sys.stdin)]' \
        | xargs -r "$KILN" rm --force >/dev/null 2>&1 || true
    rm -rf "$KILN_STATE_DIR"
}
# Instances run a copy of the image: a rebuild of the shared one (others
# build on this machine) would make later launches fail to open it.
cp "$IMAGE" "$KILN_STATE_DIR/image"
IMAGE=$KILN_STATE_DIR/image

KSM=/sys/kernel/mm/ksm
KSM_SAVED=()
if [[ ${BENCH_KSM:-0} == 1 ]]; then
    [[ -w $KSM/run ]] || die "BENCH_KSM=1 needs root and $KSM"
    for knob in run pages_to_scan sleep_millisecs use_zero_pages; do
        KSM_SAVED+=("$knob=$(cat "$KSM/$knob")")
    done
fi
restore_ksm() {
    local saved
    for saved in "${KSM_SAVED[@]}"; do
        echo "${saved#*=}" >"$KSM/${saved%%=*}"
    done
}
trap 'cleanup; restore_ksm' EXIT
if ((${#KSM_SAVED[@]})); then
    # Zero-filled pages map to the zero page; a full scan of ~5000 pages
    # per instance takes seconds, not minutes.
    echo 1 >"$KSM/use_zero_pages"
    echo 20000 >"$KSM/pages_to_scan"
    echo 20 >"$KSM/sleep_millisecs"
    echo 1 >"$KSM/run"
fi

mem_available_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
# The kernel's share: page tables, unreclaimable slab (KVM's shadow pages,
# sockets...), kernel stacks; KiB, space-separated.
kernel_kib() {
    awk '/^PageTables:/ {t = $2} /^SUnreclaim:/ {s = $2} /^KernelStack:/ {k = $2}
         END {print t, s, k}' /proc/meminfo
}
sync; sleep 1
cp /proc/meminfo "$KILN_STATE_DIR/meminfo.before"
BEFORE=$(mem_available_kib)
KERNEL_BEFORE=$(kernel_kib)
log "launching $N instances, $P kiln run -d at a time"
START=$(date +%s%N)
if [[ $APP == probe ]]; then
    seq 0 $((N - 1)) | xargs -P "$P" -I{} \
        "$KILN" run -d --name "idle-{}" "${MEMORY_ARGS[@]}" "$IMAGE" "${GUEST_ARGS[@]}" >/dev/null &
else
    seq "$PORT" $((PORT + N - 1)) | xargs -P "$P" -I{} \
        "$KILN" run -d --name "http-{}" "${MEMORY_ARGS[@]}" --net "$NET" -p "127.0.0.1:{}:80" "$IMAGE" >/dev/null &
fi
# The machine is shared: if less than 2 GiB stays available, the launches
# stop (xargs ends on SIGTERM after the running ones), not other people's
# processes. Checked beside the launches, so it costs them nothing.
LAUNCHER=$!
LOW=0
while kill -0 "$LAUNCHER" 2>/dev/null; do
    if (($(mem_available_kib) < 2097152)); then
        log "under 2 GiB available: stopping the launches"
        kill "$LAUNCHER" 2>/dev/null || true
        LOW=1
        break
    fi
    sleep 0.1
done
wait "$LAUNCHER" || ((LOW)) || die "a launch failed"
END=$(date +%s%N)
# How many instances answer `GET /`.
answering() {
    PORT=$PORT N=$N python3 - <<'PY'
import os, socket
port, n, ok = int(os.environ["PORT"]), int(os.environ["N"]), 0
for p in range(port, port + n):
    try:
        with socket.create_connection(("127.0.0.1", p), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        ok += data.startswith(b"HTTP/1.1 200") and b"Hello from Kiln!" in data
    except OSError:
        pass
print(ok)
PY
}
ANSWERED=$N
ANSWERED_AGAIN=
if [[ $APP == http-hello ]]; then
    log "one GET to each instance"
    ANSWERED=$(answering)
fi
sleep 2
if ((${#KSM_SAVED[@]})); then
    log "waiting for two full KSM scans"
    SCANS=$(cat "$KSM/full_scans")
    while (($(cat "$KSM/full_scans") < SCANS + 2)); do sleep 0.5; done
    if [[ $APP == http-hello ]]; then
        # Merged pages are copied again when written: the guests must
        # still work, and the memory is read after this use.
        log "another GET to each instance, after merging"
        ANSWERED_AGAIN=$(answering)
    fi
fi
AFTER=$(mem_available_kib)
KERNEL_AFTER=$(kernel_kib)
# Where MemAvailable went, per instance, on stderr (other users of the
# machine move these figures too).
awk -v n="$N" 'NR == FNR {before[$1] = $2; next}
    $1 ~ /^(MemFree|AnonPages|Cached|Shmem|Slab|PageTables):/ {
        printf "==> %s %+.2f MiB per instance\n", $1, ($2 - before[$1]) / n / 1024 }' \
    "$KILN_STATE_DIR/meminfo.before" /proc/meminfo >&2
"$KILN" ps --format json >"$KILN_STATE_DIR/ps.json"

# PSS splits shared pages (the kiln binary's text) among the processes that map them.
KSM_USED=$(( ${#KSM_SAVED[@]} ? 1 : 0 ))
export N P APP NET MEMORY PORT ANSWERED ANSWERED_AGAIN START END BEFORE AFTER KERNEL_BEFORE KERNEL_AFTER IMAGE KILN_STATE_DIR
export KSM_USED
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
def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None

def children(pid):
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found

pss, rss, passt_pss, passt_rss = [], [], [], []
for r in running:
    state = json.load(open(f"{E['KILN_STATE_DIR']}/instances/{r['id']}/state.json"))
    monitor = state["monitor_pid"]
    # The monitor's children are its passt (none for the probe guest).
    pids = [state["supervisor"][0], monitor, *children(monitor)]
    parts = [pss_kib(pid) for pid in pids]
    if None not in parts:
        pss.append(sum(parts))
    if r["memory_bytes"]:
        rss.append(r["memory_bytes"] / 1024)
    for pid in children(monitor):
        if (p := pss_kib(pid)) is not None:
            passt_pss.append(p)
            passt_rss.append(rss_kib(pid))
seconds = (int(E["END"]) - int(E["START"])) / 1e9
drop = (int(E["BEFORE"]) - int(E["AFTER"])) / n
http = E["APP"] == "http-hello"
limit = f"`--memory {E['MEMORY']}`" if E["MEMORY"] else "the default memory limit"
memory_env = f"BENCH_MEMORY={E['MEMORY']} " if E["MEMORY"] else ""
print("## Instances: density and launch rate\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
ports = E["NET"] == "ports"
if http:
    network = ("`--net ports`: the monitor forwards it, so each is a supervisor and a monitor"
               if ports else "so each is a supervisor, a monitor and a passt")
    print(f"{n} idle `examples/http-hello` instances ({limit}, each publishing its own host "
          f"port with `-p 127.0.0.1:PORT:80`, {network}), "
          f"launched by `kiln run -d`, {E['P']} at a time; each answered one `GET /` before the "
          "memory was read.\n")
    command = f"BENCH_APP=http-hello BENCH_INSTANCES={n} BENCH_PARALLEL={E['P']} BENCH_PORT={E['PORT']}"
    if ports:
        command = "BENCH_NET=ports " + command
    if E["KSM_USED"] == "1":
        command = "BENCH_KSM=1 " + command
        print("KSM ran during the run (`use_zero_pages` 1, 20000 pages per 20 ms) and the memory "
              "was read after two full scans; passt is started with `PR_SET_MEMORY_MERGE` and guest memory is `MADV_MERGEABLE`.\n")
else:
    print(f"{n} idle instances (`tests/guests/probe block-forever`, {limit}), each a supervisor "
          f"process and a monitor, launched by `kiln run -d`, {E['P']} at a time; the guests idle in the "
          "Block hypercall.\n")
    command = f"BENCH_INSTANCES={n} BENCH_PARALLEL={E['P']}"
print(f"Command (from the repository root): `{memory_env}{command} bench/instances/run.sh`\n")
print("| Measure | Value |\n|---|---|")
print(f"| instances running after the launches | {len(running)} of {n} |")
if http:
    print(f"| instances that answered `GET /` | {E['ANSWERED']} of {n} |")
if E["ANSWERED_AGAIN"]:
    print(f"| instances that answered `GET /` again after KSM merged their pages | {E['ANSWERED_AGAIN']} of {n} |")
print(f"| launch rate (`kiln run -d` returns once the monitor runs) | {n / seconds:.1f} per second ({seconds:.2f} s) |")
print(f"| host memory per instance: drop of MemAvailable / {n} | {drop / 1024:.2f} MiB |")
who = "supervisor + monitor + passt" if http and not ports else "supervisor + monitor"
print(f"| PSS per instance ({who}), median | {st.median(pss) / 1024:.2f} MiB |")
print(f"| monitor RSS per instance (own pages + guest pages touched), median | {st.median(rss) / 1024:.2f} MiB |")
tables, slab, stacks = (int(a) - int(b) for a, b in
                        zip(E["KERNEL_AFTER"].split(), E["KERNEL_BEFORE"].split()))
print(f"| of which the kernel's, per instance: page tables / unreclaimable slab / kernel stacks | "
      f"{tables / n / 1024:.2f} / {slab / n / 1024:.2f} / {stacks / n / 1024:.2f} MiB |")
if passt_pss:
    print(f"| passt PSS / RSS per instance, median | {st.median(passt_pss) / 1024:.2f} / "
          f"{st.median(passt_rss) / 1024:.2f} MiB |")
PY
