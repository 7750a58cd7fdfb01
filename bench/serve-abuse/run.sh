#!/usr/bin/env bash
# kiln serve under abuse: warm request latency beside 1000 idle connections
# (clients that connect and send nothing), side by side with the same
# request to a kiln serve that has none, and kiln serve's own memory as
# idle connections pile up (1000, then 3000 more than its bound).
# Two kiln serve processes run the same app (examples/http-static, one warm
# instance each, --idle 10m); requests alternate between them trial by
# trial. The idle connections are held with --handshake-timeout 10m so none
# is closed for silence during the run.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/serve-abuse/run.sh > serve-abuse.md
#
# Env: BENCH_TRIALS (requests to each, default 300, min 100).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TRIALS=$(runs_from_env BENCH_TRIALS 300 100)
# shellcheck source=../serve/prepare.sh
source "$(dirname "${BASH_SOURCE[0]}")/../serve/prepare.sh"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, resource, socket, statistics as st, sys, time
from serve_lib import E, start, stop, timed_request as request
TRIALS = int(E["TRIALS"])
IDLE, MORE = 1000, 3000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if hard < IDLE + MORE + 256:
    sys.exit(f"error: this shell's descriptor limit ({hard}) is below {IDLE + MORE + 256}")

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

def hold(port, n):
    held = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            held.append(s)
        except OSError:
            s.close()
    return held

def still_open(conns):
    """Connections kiln serve has not closed (a closed one reads EOF)."""
    n = 0
    for s in conns:
        s.setblocking(False)
        try:
            n += s.recv(1) != b""
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n

clean, clean_port, clean_cmd = start("10m")
abused, abused_port, abused_cmd = start("10m", "--handshake-timeout", "10m")
for port in (clean_port, abused_port):
    request(port)  # boots the warm instance
time.sleep(0.2)
rss_before = rss_kib(abused.pid)
print(f"==> holding {IDLE} idle connections", file=sys.stderr)
idle = hold(abused_port, IDLE)
time.sleep(0.5)
rss_idle, threads_idle = rss_kib(abused.pid), threads(abused.pid)
print(f"==> {TRIALS} requests to each, alternating", file=sys.stderr)
base, beside = [], []
for _ in range(TRIALS):
    base.append(request(clean_port))
    beside.append(request(abused_port))
open_after = still_open(idle)
print(f"==> {MORE} more idle connections", file=sys.stderr)
more = hold(abused_port, MORE)
time.sleep(0.5)
rss_more, threads_more = rss_kib(abused.pid), threads(abused.pid)
after_flood = request(abused_port)
held_now = still_open(idle + more)
for proc in (clean, abused):
    stop(proc)

mb, mx = st.median(base), st.median(beside)
print("## `kiln serve` beside idle connections\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"Two `kiln serve` of `examples/http-static`, each with one warm instance; one also holds "
      f"{IDLE} client connections that connected and sent nothing. A client sends `GET /` "
      f"(Connection: close) to each in turn, {TRIALS} times; the time is from the connect to "
      "the end of the full response. Then the abused one gets "
      f"{MORE} more idle connections, past its bound (`--max-connections`, default 1024): "
      "the longest-silent ones are closed to make room.\n")
print(f"Command (from the repository root): `BENCH_TRIALS={TRIALS} bench/serve-abuse/run.sh`, which runs\n")
print("```\n" + "\n".join([clean_cmd, abused_cmd]) + "\n```\n")
print("| Request | median | p90 | min | max |\n|---|---|---|---|---|")
for label, xs in ((f"beside no idle connection", base), (f"beside {IDLE} idle connections", beside)):
    xs = sorted(xs)
    print(f"| {label} | {st.median(xs):.2f} ms | {xs[int(0.9 * len(xs))]:.2f} ms | "
          f"{xs[0]:.2f} ms | {xs[-1]:.2f} ms |")
print(f"\nRatio of medians (beside {IDLE} idle / beside none): **{mx / mb:.2f}x** (target ≤ 1.5x).\n")
print("| kiln serve (the process itself, not its instances) | RSS | threads | idle connections it holds |\n|---|---|---|---|")
print(f"| one warm instance, no idle connection | {rss_before / 1024:.1f} MiB | | 0 |")
print(f"| {IDLE} idle connections | {rss_idle / 1024:.1f} MiB | {threads_idle} | {open_after} |")
print(f"| {IDLE + MORE} idle connections tried | {rss_more / 1024:.1f} MiB | {threads_more} | {held_now} |")
print(f"\nA request after the flood: {after_flood:.2f} ms.")
PY
