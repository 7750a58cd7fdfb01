#!/usr/bin/env bash
# The manual Firecracker check: hello's boot-to-exit on Firecracker (PVH)
# against Firecracker's own floor (an image whose first instruction stops
# the VM), one hyperfine run, medians and their ratio. Firecracker is not
# packaged: build it yourself (see BENCHMARKS.md, "Kiln images on
# Firecracker") and name the binary. Prints a Markdown section for
# BENCHMARKS.md on stdout; progress on stderr.
#
#   FIRECRACKER=/path/to/firecracker BENCH_RUNS=60 bench/firecracker/run.sh > fc.md
#
# Env: FIRECRACKER (the binary; without it the script says so and stops),
#      BENCH_RUNS (hyperfine runs per command, default 60, min 10).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

if [[ -z ${FIRECRACKER:-} ]]; then
    log "skipped: set FIRECRACKER to a firecracker binary (a manual check: Firecracker is not packaged)"
    exit 0
fi
[[ -x $FIRECRACKER ]] || die "FIRECRACKER=$FIRECRACKER is not an executable"
RUNS=$(runs_from_env BENCH_RUNS 60 10)

need hyperfine hyperfine
need python3 python3
need gcc gcc
need cargo cargo

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The floor: a PVH ELF that resets through the i8042 and nothing else.
build_pvh_floor "$TMP/floor" -DI8042_RESET

cd "$ROOT"
build_kiln
KILN=target/release/kiln
IMAGE=$(build_guest hello)

# The same minimal config for both: 128 MiB, one vCPU, the serial console
# on stdout, no network, no drives; only errors logged.
config() {
    printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": "%s"},
  "drives": [], "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}\n' "$1" "$2" >"$3"
}
config "$ROOT/$IMAGE" "kiln.status-line -- hello" "$TMP/hello.json"
config "$TMP/floor" "" "$TMP/floor.json"
: >"$TMP/log"
fc() { echo "$FIRECRACKER --no-api --config-file $TMP/$1.json --level Error --log-path $TMP/log"; }

# A broken boot would make every number meaningless: check first.
out=$($(fc hello) </dev/null)
[[ $out == $'Hello from Kiln!\nkiln-exit: 000' ]] || die "hello on Firecracker printed '$out'"
[[ $(KILN_FIRECRACKER=$FIRECRACKER "$KILN" run --hypervisor firecracker "$IMAGE" </dev/null 2>&1) == "Hello from Kiln!" ]] \
    || die "kiln run --hypervisor firecracker failed"
FIRECRACKER_VERSION=$("$FIRECRACKER" --version | head -1)

log "hyperfine: Firecracker floor vs hello"
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$TMP/fc.json" \
    "$(fc floor)" "$(fc hello)" >&2

WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) VERSION=$FIRECRACKER_VERSION \
TMP=$TMP RUNS=$RUNS python3 - <<'PY'
import json, os, statistics as st
data = json.load(open(f"{os.environ['TMP']}/fc.json"))["results"]
floor, hello = (st.median(r["times"]) * 1000 for r in data)
print(f"## Kiln images on Firecracker (PVH) ({os.environ['WHEN']})\n")
print(os.environ["MACHINE"] + "\n")
print(f"`FIRECRACKER=... bench/firecracker/run.sh` (BENCH_RUNS={os.environ['RUNS']}); "
      f"{os.environ['VERSION']}; medians, one run.\n")
print("| Firecracker | floor (stops at its first instruction) | hello | hello / floor |")
print("|---|---|---|---|")
print(f"| boot to exit | {floor:.1f} ms | {hello:.1f} ms | {hello / floor:.2f}x |")
PY
