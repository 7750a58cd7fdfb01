#!/usr/bin/env bash
# HTTP serving through the same TAP device: examples/http-hello on QEMU
# microvm with KVM (PVH, the image's virtio-net polled) against Kiln's own
# monitor (`--net tap`), and on Kiln's monitor the image as the tree before
# built it (BENCH_BASE_REV, default main), so a slower Kiln path shows.
# One vCPU and the same memory each; the three alternate round by round
# (wrk at 1 and 50 connections in each round), so they see the same host
# load; medians over the rounds. wrk runs in the namespace that holds the
# TAP device (`ktap0`, 10.0.9.1/24; the guest is 10.0.9.2).
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
# Needs root (the namespace and TAP device), wrk and QEMU.
#
#   bench/pvh/http.sh > pvh-http.md
#
# Env: BENCH_ROUNDS (default 5, min 3), BENCH_SECONDS (per wrk run,
#      default 5, min 3), BENCH_MEMORY (default 64M),
#      BENCH_BASE_REV (default main).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ROUNDS=$(runs_from_env BENCH_ROUNDS 5 3)
SECONDS_PER_RUN=$(runs_from_env BENCH_SECONDS 5 3)
MEMORY=${BENCH_MEMORY:-64M}
BASE_REV=${BENCH_BASE_REV:-main}
need wrk wrk
need python3 python3
need ip iproute2
need curl curl
need qemu-system-x86_64 qemu-system-x86
[[ $(id -u) -eq 0 ]] || die "needs root for the network namespace and the TAP device"

cd "$ROOT"
KILN=target/release/kiln
build_kiln
GUEST=$(build_guest http-hello)

TMP=$(mktemp -d)
NS=kilnpvh$$
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    git -C "$ROOT" worktree remove --force "$TMP/base" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

log "building http-hello at $BASE_REV"
git worktree add --detach --quiet "$TMP/base" "$BASE_REV"
BASE=$("$KILN" build --release "$TMP/base/examples/http-hello")
BASE=${BASE% (*}

tap_namespace "$NS"
URL=http://10.0.9.2/

# start TARGET: boots one server on ktap0, in the background ($PID).
start() {
    case $1 in
    kiln | kiln-base)
        local image=$GUEST
        [[ $1 == kiln-base ]] && image=$BASE
        ip netns exec "$NS" "$KILN" run -m "$MEMORY" --cpus 1 --net tap:ktap0 \
            --ip 10.0.9.2/24 --gateway 10.0.9.1 "$image" >/dev/null 2>&1 &
        ;;
    qemu)
        # The README's plain line, with a TAP device and Linux's ip=.
        ip netns exec "$NS" qemu-system-x86_64 -M microvm,acpi=off -accel kvm \
            -cpu qemu64,+fsgsbase,+rdrand -m "$MEMORY" -smp 1 \
            -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
            -device isa-debug-exit,iobase=0xf4,iosize=1 \
            -netdev tap,id=net0,ifname=ktap0,script=no,downscript=no \
            -device virtio-net-device,netdev=net0 -global virtio-mmio.force-legacy=false \
            -kernel "$GUEST" -append "ip=10.0.9.2::10.0.9.1:255.255.255.0::eth0:off -- http-hello" \
            >/dev/null 2>&1 &
        ;;
    esac
    PID=$!
    wait_http "$URL" "$NS"
}

stop() {
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
}

# One line per wrk run: "TARGET CONNS REQ/S P50_MS P99_MS ERRORS".
measure() { # TARGET
    for conns in 1 50; do
        local threads=$((conns < 2 ? 1 : 2))
        ip netns exec "$NS" wrk -t"$threads" -c"$conns" -d"${SECONDS_PER_RUN}s" --latency "$URL" \
            >"$TMP/wrk.txt" 2>&1 || { cat "$TMP/wrk.txt" >&2; die "wrk failed against $1"; }
        python3 - "$1" "$conns" "$TMP/wrk.txt" >>"$TMP/results.txt" <<'PY'
import re, sys
name, conns, path = sys.argv[1:]
text = open(path).read()
def ms(label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m[2]] if m else float("nan")
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
socket_errors = re.search(r"Socket errors: (.*)", text)
print(name, conns, rps, ms("50%"), ms("99%"), errors[1] if errors else 0,
      (socket_errors[1] if socket_errors else "none").replace(" ", ""))
PY
    done
}

for ((round = 1; round <= ROUNDS; round++)); do
    for target in kiln qemu kiln-base; do
        log "round $round/$ROUNDS: $target"
        start "$target"
        measure "$target"
        stop
    done
done

export TMP ROUNDS SECONDS_PER_RUN MEMORY GUEST BASE_REV
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, statistics as st
E = os.environ
rows = [l.split() for l in open(f"{E['TMP']}/results.txt")]
def runs(name, conns, field):
    return [float(r[field]) for r in rows if r[0] == name and int(r[1]) == conns]
med = lambda name, conns, field: st.median(runs(name, conns, field))
print(f"## HTTP through one TAP device: QEMU microvm (PVH) vs Kiln's monitor ({E['WHEN']})\n")
print(E["MACHINE"] + "\n")
print(f"`bench/pvh/http.sh` (BENCH_ROUNDS={E['ROUNDS']}, BENCH_SECONDS={E['SECONDS_PER_RUN']}): "
      f"`{E['GUEST']}` with {E['MEMORY']} and one vCPU on each, on the TAP device `ktap0` in a "
      "network namespace, wrk in that namespace; QEMU with KVM, the README's plain line with "
      "`-netdev tap` and `ip=`; Kiln's monitor with `--net tap:ktap0 --cpus 1`, and the image "
      f"{E['BASE_REV']} built, on the same monitor. The three alternate round by round; "
      "medians over the rounds, one run.\n")
print(f"| connections | Kiln's monitor req/s | QEMU microvm req/s | QEMU / Kiln | Kiln, image before ({E['BASE_REV']}) req/s | after / before | p50 / p99 Kiln | p50 / p99 QEMU |")
print("|---|---|---|---|---|---|---|---|")
for c in (1, 50):
    k, q, b = (med(n, c, 2) for n in ("kiln", "qemu", "kiln-base"))
    lat = lambda n: f"{med(n, c, 3):.2f} / {med(n, c, 4):.2f} ms"
    print(f"| {c} | {k:,.0f} | {q:,.0f} | {q / k:.2f}x | {b:,.0f} | {k / b:.2f}x | {lat('kiln')} | {lat('qemu')} |")
bad = [r for r in rows if r[5] != "0" or r[6] != "none"]
if bad:
    print("\nErrors: " + "; ".join(" ".join(r) for r in bad))
PY
