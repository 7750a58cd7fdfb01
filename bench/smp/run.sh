#!/usr/bin/env bash
# Threads on several vCPUs, side by side in one run:
# - CPU-bound work split over 2 threads (tests/guests/std-smp `work 2 200`), as a
#   Kiln guest with --cpus 1 and --cpus 2 and natively, alternating runs;
#   medians of the wall time each prints (target: 2 vCPUs >= 1.8x 1 vCPU);
# - the time from `unpark` on one vCPU to the woken thread running on
#   another (std-smp `wake-latency`), Kiln --cpus 2 against native
#   (target: median <= 50 us), with the sleeper asleep for 1 ms (its vCPU
#   blocked in the monitor) and for 20 us (its vCPU still looking for work);
# - HTTP through a TAP device in a namespace this script creates, wrk at 50
#   connections: examples/http-hello (tokio's multi-threaded runtime) with
#   --cpus 2 against native on the loopback (target >= 0.95x), and
#   bench/smp/programs' http-work (~1 ms of CPU per request) with --cpus 2
#   against --cpus 1 (target >= 1.6x).
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
# Needs root (the namespace and TAP device) and wrk.
#
#   bench/smp/run.sh > smp.md
#
# Env: BENCH_ALT_RUNS (alternating runs of the CPU and wake figures,
#      default 11, min 5), BENCH_SECONDS (per wrk run, default 10, min 3).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ALT_RUNS=$(runs_from_env BENCH_ALT_RUNS 11 5)
SECONDS_PER_RUN=$(runs_from_env BENCH_SECONDS 10 3)
need wrk wrk
need python3 python3
need ip iproute2
need curl curl
[[ $(id -u) -eq 0 ]] || die "needs root for the network namespace and the TAP device"

cd "$ROOT"
KILN=target/release/kiln
build_kiln
log "building std-smp, http-hello and http-work (guests and native)"
image_of() { local out; out=$("$KILN" build --release "$@"); out=${out% (*}; echo "${out#"$ROOT"/}"; }
SMP=$(image_of tests/guests/std-smp)
HELLO=$(build_guest http-hello)
WORK=$(image_of bench/smp/programs --bin http-work)
cargo build --release --quiet --manifest-path tests/guests/Cargo.toml -p std-smp \
    --target-dir bench/smp/target >&2
cargo build --release --quiet --manifest-path examples/Cargo.toml -p http-hello \
    --target-dir bench/smp/target >&2
cargo build --release --quiet --manifest-path bench/smp/programs/Cargo.toml \
    --target-dir bench/smp/target >&2
NATIVE_SMP=bench/smp/target/release/std-smp
NATIVE_HELLO=bench/smp/target/release/http-hello

TMP=$(mktemp -d)
NS=kilnsmp$$
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

log "CPU work and wake latency: $ALT_RUNS alternating runs"
for _ in $(seq "$ALT_RUNS"); do
    "$KILN" run --cpus 1 "$SMP" -- work 2 200 >>"$TMP/work.kiln1"
    "$KILN" run --cpus 2 "$SMP" -- work 2 200 >>"$TMP/work.kiln2"
    "$NATIVE_SMP" work 2 200 >>"$TMP/work.native"
    "$KILN" run --cpus 2 "$SMP" -- wake-latency 2000 1000 >>"$TMP/wake.kiln"
    "$NATIVE_SMP" wake-latency 2000 1000 >>"$TMP/wake.native"
    "$KILN" run --cpus 2 "$SMP" -- wake-latency 2000 20 >>"$TMP/wakepoll.kiln"
    "$NATIVE_SMP" wake-latency 2000 20 >>"$TMP/wakepoll.native"
done

wrk_at_50() { # NAME URL [NETNS]: one line "NAME REQ/S P50_MS P99_MS"
    local name=$1 url=$2 prefix=()
    [[ -n ${3:-} ]] && prefix=(ip netns exec "$3")
    "${prefix[@]}" wrk -t2 -c50 -d"${SECONDS_PER_RUN}s" --latency "$url" >"$TMP/wrk.txt" 2>&1 \
        || { cat "$TMP/wrk.txt" >&2; die "wrk failed against $name"; }
    python3 - "$name" "$TMP/wrk.txt" >>"$TMP/http.txt" <<'PY'
import re, sys
name, path = sys.argv[1:]
text = open(path).read()
def ms(label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m[2]] if m else float("nan")
print(name, float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1]), ms("50%"), ms("99%"))
PY
}

log "native http-hello on the loopback"
PORT=$(free_port)
"$NATIVE_HELLO" "$PORT" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/"
wrk_at_50 hello-native "http://127.0.0.1:$PORT/"
kill "${PIDS[-1]}"

tap_namespace "$NS"
tap_run() { # NAME CPUS IMAGE [ARGS...]
    local name=$1 cpus=$2 image=$3
    shift 3
    log "$name: --cpus $cpus through TAP"
    ip netns exec "$NS" "$KILN" run --cpus "$cpus" --net tap:ktap0 --ip 10.0.9.2/24 \
        --gateway 10.0.9.1 "$image" -- "$@" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_http "http://10.0.9.2/" "$NS"
    wrk_at_50 "$name" "http://10.0.9.2/" "$NS"
    kill "${PIDS[-1]}"
    wait "${PIDS[-1]}" 2>/dev/null || true
}
tap_run hello-kiln2 2 "$HELLO"
tap_run hello-kiln1 1 "$HELLO"
tap_run work-kiln2 2 "$WORK" 80 1000
tap_run work-kiln1 1 "$WORK" 80 1000

export TMP ALT_RUNS SECONDS_PER_RUN SMP HELLO WORK
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, re, statistics as st
E = os.environ
tmp = E["TMP"]
def field(name, key):
    values = [float(m[1]) for m in re.finditer(rf"{key}=([\d.]+)", open(f"{tmp}/{name}").read())]
    return st.median(values)
work = {k: field(f"work.{k}", "ms") for k in ("kiln1", "kiln2", "native")}
wake = {k: field(f"wake.{k}", "median_us") for k in ("kiln", "native")}
wake90 = {k: field(f"wake.{k}", "p90_us") for k in ("kiln", "native")}
poll = {k: field(f"wakepoll.{k}", "median_us") for k in ("kiln", "native")}
poll90 = {k: field(f"wakepoll.{k}", "p90_us") for k in ("kiln", "native")}
http = {}
for line in open(f"{tmp}/http.txt"):
    name, rps, p50, p99 = line.split()
    http[name] = (float(rps), float(p50), float(p99))
ok = lambda good: "met" if good else "**missed**"
print("## Threads on several vCPUs\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"Command (from the repository root): `bench/smp/run.sh` (BENCH_ALT_RUNS={E['ALT_RUNS']}, "
      f"BENCH_SECONDS={E['SECONDS_PER_RUN']}). CPU work: `kiln run --cpus 1|2 {E['SMP']} -- work 2 200` "
      "(200 M hashes split over 2 threads) beside the same program natively, alternating runs, "
      "medians of the wall time each prints. Wake latency: `wake-latency 2000 SETTLE_US`, a thread "
      "asleep in `park` woken by `unpark` from a thread that spins on another CPU SETTLE_US after the "
      "sleeper said it would park (1000: its vCPU has blocked in the monitor; 20: it is still looking "
      "for work, see `IDLE_POLL_NS` in `kiln-libos/src/sched.rs`), median of each run's median. "
      "HTTP: `wrk -t2 -c50` against each server; Kiln through a TAP device in a namespace, the native "
      "server on the loopback.\n")
print("| Measure | Kiln | comparison | ratio | target |\n|---|---|---|---|---|")
r = work["kiln1"] / work["kiln2"]
print(f"| CPU work, 2 threads: --cpus 2 vs --cpus 1 | {work['kiln2']:.1f} ms | {work['kiln1']:.1f} ms | "
      f"{r:.2f}x faster | >= 1.8x: {ok(r >= 1.8)} |")
r = work["kiln2"] / work["native"]
print(f"| CPU work, 2 threads: --cpus 2 vs native | {work['kiln2']:.1f} ms | {work['native']:.1f} ms | "
      f"{r:.2f}x the time | |")
print(f"| futex wake across vCPUs, sleeper's vCPU blocked (1 ms asleep), median (p90) | "
      f"{wake['kiln']:.1f} us ({wake90['kiln']:.1f}) | native {wake['native']:.1f} us ({wake90['native']:.1f}) | "
      f"{wake['kiln'] / wake['native']:.2f}x | <= 50 us: {ok(wake['kiln'] <= 50)} |")
print(f"| futex wake across vCPUs, sleeper's vCPU looking for work (20 us asleep), median (p90) | "
      f"{poll['kiln']:.1f} us ({poll90['kiln']:.1f}) | native {poll['native']:.1f} us ({poll90['native']:.1f}) | "
      f"{poll['kiln'] / poll['native']:.2f}x | <= 50 us: {ok(poll['kiln'] <= 50)} |")
def rps(name): return http[name][0]
r = rps("hello-kiln2") / rps("hello-native")
print(f"| http-hello (tokio multi-thread), 50 conns: --cpus 2 TAP vs native | {rps('hello-kiln2'):.0f} req/s | "
      f"{rps('hello-native'):.0f} req/s | {r:.2f}x | >= 0.95x: {ok(r >= 0.95)} |")
r = rps("hello-kiln2") / rps("hello-kiln1")
print(f"| http-hello, 50 conns: --cpus 2 vs --cpus 1 | {rps('hello-kiln2'):.0f} req/s | "
      f"{rps('hello-kiln1'):.0f} req/s | {r:.2f}x | |")
r = rps("work-kiln2") / rps("work-kiln1")
print(f"| http-work (~1 ms CPU per request), 50 conns: --cpus 2 vs --cpus 1 | {rps('work-kiln2'):.0f} req/s | "
      f"{rps('work-kiln1'):.0f} req/s | {r:.2f}x | >= 1.6x: {ok(r >= 1.6)} |")
print("\n| wrk, 50 connections | req/s | p50 | p99 |\n|---|---|---|---|")
for name, (q, p50, p99) in http.items():
    print(f"| {name} | {q:.0f} | {p50:.2f} ms | {p99:.2f} ms |")
PY
