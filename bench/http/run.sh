#!/usr/bin/env bash
# HTTP serving: wrk against the same std program (default examples/http-hello)
# as a native process, as a Kiln guest through -p (passt, user mode), through
# `--net ports -p` (the monitor forwards the port itself), and as a Kiln guest
# on a TAP device inside a network namespace this script creates; requests/s
# and p50/p99 latency at 1, 50 and 200 connections, side by side in one run;
# and the time from `kiln run -p` to the first successful response, with
# passt and with `--net ports`, trial by trial.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
# Needs root (the namespace and TAP device), wrk and passt.
#
#   bench/http/run.sh > http.md
#
# Env: BENCH_APP (example directory name, default http-hello; it must serve
#      HTTP on port 80, or on the port given as its first argument),
#      BENCH_SECONDS (per wrk run, default 10, min 3),
#      BENCH_FIRST_RUNS (start-to-first-response trials, default 30, min 10),
#      BENCH_MEMORY (guest memory, default 64M).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

APP=${BENCH_APP:-http-hello}
SECONDS_PER_RUN=$(runs_from_env BENCH_SECONDS 10 3)
FIRST_RUNS=$(runs_from_env BENCH_FIRST_RUNS 30 10)
MEMORY=${BENCH_MEMORY:-64M}
need wrk wrk
need passt passt
need python3 python3
need ip iproute2
need curl curl
[[ $(id -u) -eq 0 ]] || die "needs root for the network namespace and the TAP device"

cd "$ROOT"
KILN=target/release/kiln
build_kiln
GUEST=$(build_guest "$APP")
log "building $APP natively (cargo build --release)"
cargo build --release --quiet --manifest-path examples/Cargo.toml -p "$APP" \
    --target-dir bench/http/target/native >&2
NATIVE=bench/http/target/native/release/$APP

TMP=$(mktemp -d)
NS=kilnbench$$
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT


# wrk runs from the same place as the client of each target; one line per
# connection count: "TARGET CONNS REQ/S P50_MS P99_MS".
bench_target() { # NAME URL [NETNS]
    local name=$1 url=$2 prefix=()
    [[ -n ${3:-} ]] && prefix=(ip netns exec "$3")
    for conns in 1 50 200; do
        local threads=$((conns < 2 ? 1 : 2))
        "${prefix[@]}" wrk -t"$threads" -c"$conns" -d"${SECONDS_PER_RUN}s" --latency "$url" >"$TMP/wrk.txt" 2>&1 \
            || { cat "$TMP/wrk.txt" >&2; die "wrk failed against $name"; }
        python3 - "$name" "$conns" "$TMP/wrk.txt" >>"$TMP/results.txt" <<'PY'
import re, sys
name, conns, path = sys.argv[1:]
text = open(path).read()
def ms(label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m[2]]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(name, conns, rps, ms("50%"), ms("99%"), errors[1] if errors else 0)
PY
    done
}

# Native, on the host's loopback.
PORT=$(free_port)
"$NATIVE" "$PORT" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/"
log "native: wrk at 1, 50, 200 connections"
bench_target native "http://127.0.0.1:$PORT/"
kill "${PIDS[-1]}"

# Kiln, user mode through -p.
PORT=$(free_port)
"$KILN" run -m "$MEMORY" -p "$PORT:80" "$GUEST" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/"
log "kiln -p (passt): wrk at 1, 50, 200 connections"
bench_target kiln-user "http://127.0.0.1:$PORT/"
kill "${PIDS[-1]}"

# Kiln, the port forwarded by the monitor itself (--net ports).
PORT=$(free_port)
"$KILN" run -m "$MEMORY" --net ports -p "$PORT:80" "$GUEST" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/"
log "kiln --net ports: wrk at 1, 50, 200 connections"
bench_target kiln-ports "http://127.0.0.1:$PORT/"
kill "${PIDS[-1]}"

# Kiln on a TAP device in a namespace of our own (the client runs there too).
tap_namespace "$NS"
ip netns exec "$NS" "$KILN" run -m "$MEMORY" --net tap:ktap0 --ip 10.0.9.2/24 --gateway 10.0.9.1 "$GUEST" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://10.0.9.2/" "$NS"
log "kiln --net tap: wrk at 1, 50, 200 connections"
bench_target kiln-tap "http://10.0.9.2/" "$NS"
kill "${PIDS[-1]}"

# From `kiln run -p` to the first successful response: passt and --net
# ports alternate trial by trial, so both see the same host load.
log "time to first response: $FIRST_RUNS runs each, passt and --net ports"
for ((i = 0; i < FIRST_RUNS; i++)); do
    for net in user ports; do
        PORT=$(free_port)
        python3 "$ROOT/bench/http/first_response.py" "$PORT" \
            "$KILN" run -m "$MEMORY" --net "$net" -p "$PORT:80" "$GUEST" >>"$TMP/first-$net.txt" \
            || die "no first response through --net $net"
    done
done

export TMP APP SECONDS_PER_RUN FIRST_RUNS MEMORY GUEST NATIVE
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, statistics as st
E = os.environ
rows = [l.split() for l in open(f"{E['TMP']}/results.txt")]
res = {(r[0], int(r[1])): (float(r[2]), float(r[3]), float(r[4]), int(r[5])) for r in rows}
first = {net: sorted(float(l) for l in open(f"{E['TMP']}/first-{net}.txt"))
         for net in ("user", "ports")}
print(f"## HTTP: `{E['APP']}` as a Kiln guest vs native\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"`wrk --latency` for {E['SECONDS_PER_RUN']} s per row against the same program "
      f"(`{E['NATIVE']}` natively on the host's loopback; `{E['GUEST']}` with `--memory {E['MEMORY']}`, "
      "through `-p` (passt) from the host, through `--net ports -p` (the monitor forwards the port) "
      "from the host, and on a TAP device in a network namespace with wrk in the namespace), one "
      "after another in one run.\n")
print(f"Command (from the repository root): `BENCH_APP={E['APP']} BENCH_SECONDS={E['SECONDS_PER_RUN']} "
      f"BENCH_FIRST_RUNS={E['FIRST_RUNS']} bench/http/run.sh`\n")
print("| connections | native req/s | Kiln TAP req/s (ratio) | Kiln `-p` req/s (ratio) | Kiln `--net ports` req/s (ratio) | p50 / p99 native | p50 / p99 TAP | p50 / p99 `-p` | p50 / p99 `--net ports` |")
print("|---|---|---|---|---|---|---|---|---|")
for c in (1, 50, 200):
    n, t, u, f = (res[(name, c)] for name in ("native", "kiln-tap", "kiln-user", "kiln-ports"))
    lat = lambda r: f"{r[1]:.2f} / {r[2]:.2f} ms"
    ratio = lambda r: f"{r[0]:,.0f} ({r[0] / n[0]:.2f}x)"
    print(f"| {c} | {n[0]:,.0f} | {ratio(t)} | {ratio(u)} | {ratio(f)} | "
          f"{lat(n)} | {lat(t)} | {lat(u)} | {lat(f)} |")
bad = {k: v[3] for k, v in res.items() if v[3]}
if bad:
    print(f"\nNon-2xx responses: {bad}")
for net, label in (("user", "`kiln run -p` (passt)"), ("ports", "`kiln run --net ports -p`")):
    runs = first[net]
    print(f"\nFrom {label} to the first successful response ({len(runs)} runs, alternating): "
          f"median {st.median(runs):.1f} ms, p90 {st.quantiles(runs, n=10)[8]:.1f} ms.")
PY
