#!/usr/bin/env bash
# Stalls under connection churn: bursts of 16 clients, each making a
# kept-alive connection to examples/http-hello (published with -p, so
# through passt), sending 10 requests and closing, round after round: a
# tokio multi-threaded server registering and removing sockets while its
# driver waits in epoll_wait. Counts requests that took over 1 s or got no
# answer within 5 s (a lost wake-up stalls a connection for good), and the
# slowest answer. With BENCH_BASE_IMAGE=PATH (an http-hello image an older
# tree built), that image is served side by side, by the same kiln, with
# the same clients at the same time.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/stalls/run.sh > stalls.md
#   BENCH_BASE_IMAGE=/tmp/old-http-hello bench/stalls/run.sh
#
# Env: BENCH_ROUNDS (default 250, min 50).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ROUNDS=$(runs_from_env BENCH_ROUNDS 250 50)
need python3 python3
need passt passt
need curl curl
cd "$ROOT"
KILN=target/release/kiln
build_kiln
IMAGE=$(build_guest http-hello)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# serve IMAGE: starts it on a free port; prints the port.
serve() {
    local port
    port=$(free_port)
    "$KILN" run --timeout 1h -p "$port:80" "$1" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/"
    echo "$port"
}
PORT=$(serve "$IMAGE")
BASE_PORT=
if [[ -n ${BENCH_BASE_IMAGE:-} ]]; then
    [[ -f $BENCH_BASE_IMAGE ]] || die "no image at $BENCH_BASE_IMAGE"
    BASE_PORT=$(serve "$BENCH_BASE_IMAGE")
fi
log "$ROUNDS rounds of 16 clients x 10 requests (ports $PORT ${BASE_PORT:-})"
export PORT BASE_PORT ROUNDS IMAGE BENCH_BASE_IMAGE
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, socket, threading, time
E = os.environ
CLIENTS, REQUESTS, SLOW, TIMEOUT = 16, 10, 1.0, 5.0

def get(sock, reader, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: kiln\r\n\r\n".encode())
    if not reader.readline():
        raise ConnectionError("closed")
    length = 0
    while (line := reader.readline().strip()):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    reader.read(length)

def client(port, c, start, tally):
    start.wait()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    except OSError:
        tally["failed"] += 1
        return
    reader = sock.makefile("rb")
    for i in range(REQUESTS):
        began = time.monotonic()
        try:
            get(sock, reader, f"/{c}/{i}")
        except OSError:
            tally["failed"] += 1
            break
        took = time.monotonic() - began
        tally["worst"] = max(tally["worst"], took)
        tally["slow"] += took > SLOW
        tally["done"] += 1
    sock.close()

servers = [("this tree", int(E["PORT"]))]
if E.get("BASE_PORT"):
    servers.append(("base image", int(E["BASE_PORT"])))
tallies = {name: {"done": 0, "slow": 0, "failed": 0, "worst": 0.0} for name, _ in servers}
for _ in range(int(E["ROUNDS"])):
    start = threading.Barrier(CLIENTS * len(servers))
    threads = [threading.Thread(target=client, args=(port, c, start, tallies[name]))
               for name, port in servers for c in range(CLIENTS)]
    for t in threads: t.start()
    for t in threads: t.join()

print(f"## Stalls under connection churn\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"Command: `bench/stalls/run.sh` (BENCH_ROUNDS={E['ROUNDS']}"
      + (f", BENCH_BASE_IMAGE={E['BENCH_BASE_IMAGE']}" if E.get("BENCH_BASE_IMAGE") else "")
      + f"): {E['ROUNDS']} rounds of {CLIENTS} clients at once, each a kept-alive connection "
      f"to `{E['IMAGE']}` through `-p` with {REQUESTS} requests; both servers loaded at the same time.\n")
print("| server | requests answered | over 1 s | unanswered in 5 s or failed | slowest |")
print("|---|---|---|---|---|")
for name, _ in servers:
    t = tallies[name]
    print(f"| {name} | {t['done']} | {t['slow']} | {t['failed']} | {t['worst'] * 1000:.1f} ms |")
PY
