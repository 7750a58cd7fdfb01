#!/usr/bin/env bash
# Memory as a limit: a thousand threads with std's default 2 MiB stacks,
# alive at once (tests/guests/std-many-threads), as a Kiln image at the
# default memory limit and natively: wall time side by side in one
# hyperfine invocation, peak host RSS, and how far guest memory grew.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/threads/run.sh > threads.md
#
# Env: BENCH_RUNS (hyperfine runs, default 20, min 5),
#      BENCH_RSS_RUNS (peak-RSS samples each, default 5, min 3).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 20 5)
RSS_RUNS=$(runs_from_env BENCH_RSS_RUNS 5 3)
need hyperfine hyperfine
need python3 python3
[[ -x /usr/bin/time ]] || need /usr/bin/time time
need cargo cargo

cd "$ROOT"
KILN=target/release/kiln
build_kiln
GUEST_DIR=tests/guests/std-many-threads
log "building $GUEST_DIR (kiln build --release, and natively)"
IMAGE=$("$KILN" build --release "$GUEST_DIR")
IMAGE=${IMAGE% (*}
IMAGE=${IMAGE#"$ROOT"/}
cargo build --release --quiet --manifest-path tests/guests/Cargo.toml -p std-many-threads \
    --target-dir bench/threads/target >&2
NATIVE=bench/threads/target/release/std-many-threads

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
GUEST_OUT=$("$KILN" run "$IMAGE")
NATIVE_OUT=$("$NATIVE")
[[ $GUEST_OUT == "$NATIVE_OUT" ]] || die "the guest printed '$GUEST_OUT', natively '$NATIVE_OUT'"

log "timing ($RUNS runs each, one hyperfine invocation)"
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$TMP/times.json" \
    "$KILN run $IMAGE" "$NATIVE" >&2
log "peak RSS ($RSS_RUNS runs each) and the guest's memory"
for _ in $(seq "$RSS_RUNS"); do
    /usr/bin/time -f %M -o "$TMP/rss" "$KILN" run "$IMAGE" >/dev/null
    cat "$TMP/rss" >>"$TMP/guest.rss"
    /usr/bin/time -f %M -o "$TMP/rss" "$NATIVE" >/dev/null
    cat "$TMP/rss" >>"$TMP/native.rss"
done
"$KILN" run --verbose "$IMAGE" 2>"$TMP/verbose" >/dev/null

export TMP RUNS IMAGE NATIVE GUEST_OUT
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import json, os, re, statistics as st
E = os.environ
tmp = E["TMP"]
times = {r["command"]: r for r in json.load(open(f"{tmp}/times.json"))["results"]}
guest = next(r for c, r in times.items() if c.startswith("target/release/kiln"))
native = next(r for c, r in times.items() if not c.startswith("target/release/kiln"))
g, n = st.median(guest["times"]) * 1e3, st.median(native["times"]) * 1e3
rss = lambda name: st.median(int(x) for x in open(f"{tmp}/{name}.rss").read().split()) / 1024
verbose = open(f"{tmp}/verbose").read()
mapped = re.search(r"guest memory (\d+) MiB mapped of (\d+) MiB", verbose)
grows = re.search(r"grow memory (\d+)", verbose)
print("## Threads and memory: a thousand threads at the default limit\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"Command (from the repository root): `bench/threads/run.sh` (BENCH_RUNS={E['RUNS']}): "
      f"`hyperfine -N` of `target/release/kiln run {E['IMAGE']}` beside `{E['NATIVE']}` "
      "(`tests/guests/std-many-threads`: 1000 threads with std's 2 MiB stacks alive at once, one "
      "of them over 600 KiB deep), then peak RSS under `/usr/bin/time`.\n")
print(f"Both printed: `{E['GUEST_OUT']}`\n")
print("| Measure | Kiln (default limit) | native | ratio |\n|---|---|---|---|")
print(f"| wall time, median | {g:.1f} ms | {n:.1f} ms | {g / n:.2f}x |")
print(f"| peak host RSS, median | {rss('guest'):.1f} MiB | {rss('native'):.1f} MiB | "
      f"{rss('guest') / rss('native'):.2f}x |")
if mapped:
    print(f"| guest memory mapped at the end / limit | {mapped.group(1)} / {mapped.group(2)} MiB | | |")
if grows:
    print(f"| `GrowMemory` calls | {grows.group(1)} | | |")
PY
