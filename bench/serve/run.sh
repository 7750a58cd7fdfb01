#!/usr/bin/env bash
# On demand: cold request latency through `kiln serve` (a client connects
# with zero instances running; the time to the full HTTP response, the boot
# included) side by side with warm latency (an instance already running).
# The app is examples/http-static (GET /, Connection: close). Each cold
# trial waits until kiln serve has stopped its instance (--idle 50ms) and no
# child of it holds a VM. Cold trials alternate between kiln serve as it is
# (a prepared spare monitor, passt up, no VM), kiln serve --no-spare, and
# kiln serve --net ports (the monitor forwards the port; no passt).
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/serve/run.sh > serve.md
#
# Env: BENCH_TRIALS (cold and warm trials each, default 200, min 100).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TRIALS=$(runs_from_env BENCH_TRIALS 200 100)
# shellcheck source=prepare.sh
source "$(dirname "${BASH_SOURCE[0]}")/../serve/prepare.sh"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import statistics as st, sys, time
from serve_lib import E, children, has_vm, request, start, stop
TRIALS = int(E["TRIALS"])

def wait_for_zero(proc):
    """Until no child of kiln serve holds a VM (its spare has none), and a
    little more so a spare made after the last boot is up."""
    deadline = time.monotonic() + 10
    while any(has_vm(child) for child in children(proc.pid)):
        if time.monotonic() > deadline:
            sys.exit("error: kiln serve did not stop its idle instance")
        time.sleep(0.005)
    time.sleep(0.03)

print(f"==> {TRIALS} cold trials each: spare, no spare, --net ports; alternating", file=sys.stderr)
spare_proc, spare_port, cold_cmd = start("50ms")
bare_proc, bare_port, bare_cmd = start("50ms", "--no-spare")
ports_proc, ports_port, ports_cmd = start("50ms", "--net", "ports")
cold, bare, ports = [], [], []
for _ in range(TRIALS):
    for proc, port, results in ((spare_proc, spare_port, cold), (bare_proc, bare_port, bare),
                                (ports_proc, ports_port, ports)):
        wait_for_zero(proc)
        results.append(request(port))
for proc in (spare_proc, bare_proc, ports_proc):
    stop(proc)

print(f"==> {TRIALS} warm trials", file=sys.stderr)
proc, port, warm_cmd = start("10m")
request(port)
warm = [request(port) for _ in range(TRIALS)]
stop(proc)

def row(label, results):
    xs = sorted(x for x in results if x is not None)
    lost = len(results) - len(xs)
    p99 = xs[min(len(xs) - 1, int(round(0.99 * len(xs))) - 1)]
    return f"| {label} | {st.median(xs):.2f} ms | {p99:.2f} ms | {xs[0]:.2f} ms | {xs[-1]:.2f} ms | {lost} |"

print("## On demand: cold and warm request latency through `kiln serve`\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print("A client connects to `kiln serve`'s port and sends `GET /` (Connection: close) to "
      "`examples/http-static`; the time is from the connect to the end of the full response. "
      "Cold: zero instances (no VM) when the client connects (each trial waits until the "
      "previous instance was stopped for being idle), so the VM's creation, the guest's boot "
      "and the handoff are included; kiln serve keeps a spare monitor with its passt started "
      "and no VM, so their start-up is not; `--no-spare` boots without one (a new `kiln run` "
      "and passt per cold request); `--net ports` has the monitor forward the port itself (no "
      "passt; with the spare). The three alternate trial by trial. "
      f"Warm: an instance already running. {TRIALS} trials each.\n")
print(f"Command (from the repository root): `BENCH_TRIALS={TRIALS} bench/serve/run.sh`, which runs\n")
print("```\n" + "\n".join([cold_cmd, bare_cmd, ports_cmd, warm_cmd]) + "\n```\n")
print("| Request | median | p99 | min | max | no answer in 10 s |\n|---|---|---|---|---|---|")
print(row("cold (zero instances, a spare monitor ready)", cold))
print(row("cold, `--no-spare`", bare))
print(row("cold, `--net ports` (a spare ready)", ports))
print(row("warm (instance running)", warm))
PY
