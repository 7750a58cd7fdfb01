#!/usr/bin/env bash
# One image on two platforms: hello's boot-to-exit on QEMU microvm (PVH)
# against QEMU's own floor (an image whose first instruction ends the VM),
# with TCG and with KVM; and, on Kiln's own monitor, hello before and after
# the PVH platform (BENCH_BASE_REV, default main): boot time and image size.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   BENCH_RUNS=30 bench/pvh/run.sh > pvh.md
#
# Env: BENCH_RUNS (hyperfine runs per QEMU command, default 30, min 10),
#      BENCH_KILN_RUNS (per `kiln run`, default 200, min 50),
#      BENCH_BASE_REV (the tree before, default main).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 30 10)
KILN_RUNS=$(runs_from_env BENCH_KILN_RUNS 200 50)
BASE_REV=${BENCH_BASE_REV:-main}

need hyperfine hyperfine
need python3 python3
need qemu-system-x86_64 qemu-system-x86
need gcc gcc
need strip binutils
need cargo cargo

cd "$ROOT"
build_kiln
KILN=target/release/kiln
IMAGE=$(build_guest hello)

TMP=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$TMP/base" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

# The floor: a PVH ELF that writes 0 to isa-debug-exit and nothing else.
build_pvh_floor "$TMP/floor"

# hello as the tree before built it (same kiln build, its own library OS).
log "building hello at $BASE_REV"
git worktree add --detach --quiet "$TMP/base" "$BASE_REV"
BASE=$("$KILN" build --release "$TMP/base/examples/hello")
BASE=${BASE% (*}

QEMU_FLAGS="-M microvm -m 128M -nodefaults -no-user-config -nographic -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=1"
TCG="qemu-system-x86_64 -accel tcg -cpu max $QEMU_FLAGS"
KVM="qemu-system-x86_64 -accel kvm -cpu qemu64,+fsgsbase,+rdrand $QEMU_FLAGS"

# Broken images would make every number meaningless: check first.
for q in "$TCG" "$KVM"; do
    out=$($q -kernel "$IMAGE" 2>/dev/null) || true
    [[ $out == "Hello from Kiln!" ]] || die "hello on '$q' printed '$out'"
done
[[ $("$KILN" run "$IMAGE") == "Hello from Kiln!" ]] || die "hello on Kiln's monitor failed"
[[ $("$KILN" run "$BASE") == "Hello from Kiln!" ]] || die "the base hello on Kiln's monitor failed"

# QEMU ends with (0 << 1) | 1 = 1 when the guest exits 0: -i accepts it.
for accel in tcg kvm; do
    q=$TCG; [[ $accel == kvm ]] && q=$KVM
    log "hyperfine: QEMU floor vs hello ($accel)"
    hyperfine -N -i --warmup 3 --runs "$RUNS" --export-json "$TMP/qemu-$accel.json" \
        "$q -kernel $TMP/floor" "$q -kernel $IMAGE" >&2 2>/dev/null
done

log "hyperfine: Kiln's monitor, hello before and after"
hyperfine -N --warmup 20 --runs "$KILN_RUNS" --export-json "$TMP/kiln.json" \
    /bin/true "$KILN run $BASE" "$KILN run $IMAGE" >&2

strip -o "$TMP/base.stripped" "$BASE"
strip -o "$TMP/new.stripped" "$IMAGE"

WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) \
BASE_RAW=$(stat -c %s "$BASE") NEW_RAW=$(stat -c %s "$IMAGE") \
BASE_STRIPPED=$(stat -c %s "$TMP/base.stripped") NEW_STRIPPED=$(stat -c %s "$TMP/new.stripped") \
TMP=$TMP RUNS=$RUNS KILN_RUNS=$KILN_RUNS BASE_REV=$BASE_REV python3 - <<'PY'
import json, os, statistics as st
tmp = os.environ["TMP"]
def medians(name):
    data = json.load(open(f"{tmp}/{name}.json"))["results"]
    return [st.median(r["times"]) * 1000 for r in data]
print(f"## One image on QEMU microvm (PVH) ({os.environ['WHEN']})\n")
print(os.environ["MACHINE"] + "\n")
print(f"`bench/pvh/run.sh` (BENCH_RUNS={os.environ['RUNS']}, BENCH_KILN_RUNS={os.environ['KILN_RUNS']}); medians, one run.\n")
print("| QEMU microvm | floor (exits at its first instruction) | hello | hello / floor |")
print("|---|---|---|---|")
for accel in ("tcg", "kvm"):
    floor, hello = medians(f"qemu-{accel}")
    print(f"| {accel.upper()} | {floor:.1f} ms | {hello:.1f} ms | {hello / floor:.2f}x |")
true, base, new = medians("kiln")
print(f"\n| Kiln's monitor, `kiln run hello` | /bin/true | before ({os.environ['BASE_REV']}) | after | after / before |")
print("|---|---|---|---|---|")
print(f"| boot to exit | {true:.2f} ms | {base:.2f} ms | {new:.2f} ms | {new / base:.2f}x |")
b, n = int(os.environ["BASE_RAW"]), int(os.environ["NEW_RAW"])
bs, ns = int(os.environ["BASE_STRIPPED"]), int(os.environ["NEW_STRIPPED"])
print(f"| image size | | {b / 1024:.1f} KiB | {n / 1024:.1f} KiB | +{(n - b) / 1024:.1f} KiB |")
print(f"| image size, stripped | | {bs / 1024:.1f} KiB | {ns / 1024:.1f} KiB | +{(ns - bs) / 1024:.1f} KiB |")
PY
