#!/usr/bin/env bash
# Ordinary Rust std programs (bench/std/programs) as Kiln guests vs the same
# programs built natively: start-up of a std hello, thread spawn+join,
# futex-backed wake-ups (ping-pong), and a serde_json + rayon workload.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/std/run.sh > std.md
#
# Env: BENCH_RUNS (hyperfine runs for std-hello, default 300, min 100),
#      BENCH_ALT_RUNS (alternating guest/native runs of spawn-join, ping-pong
#                      and workload, default 15, min 10),
#      BENCH_SPAWNS (spawn+join iterations per run, default 20000),
#      BENCH_ROUND_TRIPS (ping-pong round trips per run, default 100000).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 300 100)
ALT_RUNS=$(runs_from_env BENCH_ALT_RUNS 15 10)
SPAWNS=$(runs_from_env BENCH_SPAWNS 20000 1000)
ROUND_TRIPS=$(runs_from_env BENCH_ROUND_TRIPS 100000 1000)

need hyperfine hyperfine
need python3 python3
need strip binutils
need cargo cargo

cd "$ROOT"   # relative paths keep the printed commands copy-pasteable
PROGRAMS=bench/std/programs
KILN=target/release/kiln
build_kiln

# `kiln build --bin NAME` builds one binary of the package into its own
# target/kiln/ dir and prints "PATH (SIZE)".
build_std_guest() {
    local out
    log "building guest $1 (kiln build --release)"
    out=$("$KILN" build --release "$PROGRAMS" --bin "$1")
    out=${out% (*}
    [[ -f $out ]] || die "kiln build did not produce an image for $PROGRAMS --bin $1 (got '$out')"
    echo "${out#"$ROOT"/}"
}
G_HELLO=$(build_std_guest std-hello)
G_SPAWN=$(build_std_guest spawn-join)
G_PING=$(build_std_guest ping-pong)
G_WORK=$(build_std_guest workload)

# The same package natively, in target dirs of its own: a plain release build
# (dynamically linked, as cargo makes it) and a static std-hello, the fair
# start-up twin of a Kiln image (no dynamic loader on either side).
log "building the native programs (cargo build --release)"
cargo build --release --quiet --manifest-path "$PROGRAMS/Cargo.toml" \
    --target-dir bench/std/target/native >&2
log "building the static native std-hello (+crt-static)"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
    --manifest-path "$PROGRAMS/Cargo.toml" --target x86_64-unknown-linux-gnu \
    --bin std-hello --target-dir bench/std/target/static >&2
NATIVE=bench/std/target/native/release
N_HELLO_STATIC=bench/std/target/static/x86_64-unknown-linux-gnu/release/std-hello

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run_to FILE CMD...: appends CMD's stdout to FILE; a failing or hanging run
# (guests get --timeout) stops the script with its stderr shown.
run_to() {
    local file=$1; shift
    if ! "$@" >>"$file" 2>"$TMP/last.err"; then
        cat "$TMP/last.err" >&2
        die "failed: $*"
    fi
}

EXPECTED="Hello from std on Kiln!"
[[ $("$KILN" run "$G_HELLO") == "$EXPECTED" ]] || die "$G_HELLO did not print '$EXPECTED'"
[[ $("$N_HELLO_STATIC") == "$EXPECTED" ]] || die "$N_HELLO_STATIC did not print '$EXPECTED'"

# Start-up: the guest and the static native binary in one invocation.
# HF_CMD is only displayed (and must match the call below), never executed.
HF_CMD=$(printf "hyperfine -N --warmup 20 --runs %s '%s run %s' '%s'" "$RUNS" "$KILN" "$G_HELLO" "$N_HELLO_STATIC")
log "$HF_CMD"
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$TMP/hyperfine.json" \
    "$KILN run $G_HELLO" "$N_HELLO_STATIC" >&2

# Size that would ship: symbols and debug info are not needed to boot.
: >"$TMP/sizes.txt"
for image in "$G_HELLO" "$G_SPAWN" "$G_PING" "$G_WORK"; do
    strip -o "$TMP/stripped" "$image"
    printf '%s %s %s\n' "$image" "$(stat -c %s "$image")" "$(stat -c %s "$TMP/stripped")" >>"$TMP/sizes.txt"
done
strip -o "$TMP/hello.stripped" "$G_HELLO"
[[ $("$KILN" run "$TMP/hello.stripped") == "$EXPECTED" ]] || die "stripped std-hello does not run"
strip -o "$TMP/native-hello.stripped" "$N_HELLO_STATIC"
NATIVE_HELLO_STRIPPED=$(stat -c %s "$TMP/native-hello.stripped")

MEM4M=no
if out=$("$KILN" run --memory 4M "$G_HELLO" 2>"$TMP/mem4m.err") && [[ $out == "$EXPECTED" ]]; then
    MEM4M=yes
else
    log "std-hello with --memory 4M failed: $(cat "$TMP/mem4m.err")"
fi

# Threads and the workload: guest and native alternate, so both see the
# machine's noise; the programs print their own figures.
SPAWN_G=("$KILN" run --memory 256M --timeout 120s "$G_SPAWN" -- "$SPAWNS")
SPAWN_N=("$NATIVE/spawn-join" "$SPAWNS")
PING_G=("$KILN" run --memory 256M --timeout 120s "$G_PING" -- "$ROUND_TRIPS")
PING_N=("$NATIVE/ping-pong" "$ROUND_TRIPS")
WORK_G=("$KILN" run --memory 512M --timeout 120s "$G_WORK")
WORK_N=("$NATIVE/workload")
log "spawn+join: $ALT_RUNS alternating runs per side"
for ((i = 0; i < ALT_RUNS; i++)); do
    run_to "$TMP/spawn-guest.txt" "${SPAWN_G[@]}"
    run_to "$TMP/spawn-native.txt" "${SPAWN_N[@]}"
done
log "ping-pong: $ALT_RUNS alternating runs per side"
for ((i = 0; i < ALT_RUNS; i++)); do
    run_to "$TMP/ping-guest.txt" "${PING_G[@]}"
    run_to "$TMP/ping-native.txt" "${PING_N[@]}"
done
log "workload: $ALT_RUNS alternating runs per side (guest, native, native on one thread)"
for ((i = 0; i < ALT_RUNS; i++)); do
    run_to "$TMP/work-guest.txt" "${WORK_G[@]}"
    run_to "$TMP/work-native.txt" "${WORK_N[@]}"
    run_to "$TMP/work-native1.txt" env RAYON_NUM_THREADS=1 "${WORK_N[@]}"
done

# Values go to python through the environment so the quoted heredoc needs no
# shell escaping.
export TMP RUNS ALT_RUNS SPAWNS ROUND_TRIPS HF_CMD MEM4M NATIVE_HELLO_STRIPPED
export SPAWN_G_CMD="${SPAWN_G[*]}" SPAWN_N_CMD="${SPAWN_N[*]}"
export PING_G_CMD="${PING_G[*]}" PING_N_CMD="${PING_N[*]}"
export WORK_G_CMD="${WORK_G[*]}" WORK_N_CMD="${WORK_N[*]}"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import json, os, re, statistics as st, sys
E = os.environ
tmp = E["TMP"]
med = st.median

def grab(name, pattern, conv=float):
    vals = [conv(m[1]) for l in open(f"{tmp}/{name}.txt") if (m := re.match(pattern, l))]
    if len(vals) != int(E["ALT_RUNS"]):
        sys.exit(f"error: {name}: expected {E['ALT_RUNS']} figures, found {len(vals)}")
    return vals

res = json.load(open(f"{tmp}/hyperfine.json"))["results"]
g_hello, n_hello = (r["times"] for r in res)
def p90(xs): return st.quantiles(xs, n=10)[8]
ms = lambda s: f"{s * 1e3:.3f} ms"

spawn_g = grab("spawn-guest", r"^spawn\+join: (\d+) ns")
spawn_n = grab("spawn-native", r"^spawn\+join: (\d+) ns")
ping_g = grab("ping-guest", r"^ping-pong: (\d+) ns")
ping_n = grab("ping-native", r"^ping-pong: (\d+) ns")
work = {k: grab(f"work-{k}", r"^elapsed = ([\d.]+) ms") for k in ("guest", "native", "native1")}
sums = {k: set(grab(f"work-{k}", r"^checksum = (\w+)$", str)) for k in work}
threads = {k: set(grab(f"work-{k}", r"^threads = (\d+)$", int)) for k in work}
all_sums = set().union(*sums.values())
if len(all_sums) != 1:
    sys.exit(f"error: workload checksums differ: {sums}")
checksum = all_sums.pop()
th = lambda k: "/".join(str(t) for t in sorted(threads[k]))

sizes = [l.split() for l in open(f"{tmp}/sizes.txt")]
hello_raw, hello_stripped = int(sizes[0][1]), int(sizes[0][2])
kib = lambda b: f"{b / 1024:.1f} KiB"

hello_g, hello_n = med(g_hello), med(n_hello)
sg, sn, pg, pn = med(spawn_g), med(spawn_n), med(ping_g), med(ping_n)
wg, wn, wn1 = med(work["guest"]), med(work["native"]), med(work["native1"])
us = lambda ns: f"{ns / 1e3:.2f} µs"

print("## std programs: Kiln guest vs native\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print("Ordinary Rust std programs (`bench/std/programs`, one package, no Kiln dependency, "
      "stock release profile: opt-level 3, panic = unwind) built as Kiln guests "
      "(`kiln build --release bench/std/programs --bin NAME`) and natively "
      "(`cargo build --release`, dynamically linked; std-hello also with `+crt-static`). "
      "The guest runs with Kiln's default vCPUs (the host's CPU count, as native programs "
      "use every core), its threads preempted every 5 ms.\n")
print(f"Command (from the repository root): `BENCH_RUNS={E['RUNS']} BENCH_ALT_RUNS={E['ALT_RUNS']} "
      f"BENCH_SPAWNS={E['SPAWNS']} BENCH_ROUND_TRIPS={E['ROUND_TRIPS']} bench/std/run.sh`, which runs\n")
print("```")
print(E["HF_CMD"])
print(f"# then {E['ALT_RUNS']} alternating runs per side of:")
for k in ("SPAWN_G_CMD", "SPAWN_N_CMD", "PING_G_CMD", "PING_N_CMD", "WORK_G_CMD", "WORK_N_CMD"):
    print(E[k])
print(f"RAYON_NUM_THREADS=1 {E['WORK_N_CMD']}")
print("```\n")

print("### Start-up and size\n")
print("| Measure | Median |\n|---|---|")
print(f"| static native std-hello (same hyperfine invocation) | {ms(hello_n)} (p90 {ms(p90(n_hello))}) |")
print(f"| `kiln run` std-hello, end to end | {ms(hello_g)} (p90 {ms(p90(g_hello))}) |")
print(f"| ratio kiln / static native | {hello_g / hello_n:.2f}x |")
print(f"| std-hello image, unstripped / stripped | {kib(hello_raw)} / {kib(hello_stripped)} |")
print(f"| static native std-hello, stripped (for scale) | {kib(int(E['NATIVE_HELLO_STRIPPED']))} |")
for path, raw, stripped in sizes[1:]:
    print(f"| `{path.rsplit('/', 1)[1]}` image, unstripped / stripped | {kib(int(raw))} / {kib(int(stripped))} |")
print(f"| std-hello runs with `--memory 4M` | {E['MEM4M']} |")
print()

print("### Threads and workload\n")
print(f"Medians of the figures the programs print, over {E['ALT_RUNS']} alternating runs per side.\n")
print("| Measure | Guest (`kiln run`, default vCPUs) | Native | Guest / native |\n|---|---|---|---|")
print(f"| spawn+join of an empty thread | {us(sg)} | {us(sn)} | {sg / sn:.3f}x |")
print(f"| ping-pong round trip (`Mutex<bool>` + `Condvar`) | {us(pg)} | {us(pn)} | {pg / pn:.3f}x |")
print(f"| workload (serde_json + rayon), rayon threads guest {th('guest')} / native {th('native')} | "
      f"{wg:.1f} ms | {wn:.1f} ms | {wg / wn:.3f}x |")
print(f"| workload, native with `RAYON_NUM_THREADS=1` | {wg:.1f} ms | {wn1:.1f} ms | {wg / wn1:.3f}x |")
print()
print(f"All {3 * int(E['ALT_RUNS'])} workload runs print `checksum = {checksum}`.\n")
print("Reading the thread figures: on the guest, spawn+join and a ping-pong round trip are "
      "mostly switches between threads inside the guest (a wake for an idle vCPU is one exit); "
      "natively they are kernel thread creation and futex wake-ups across two cores. The workload "
      "row compares rayon on every vCPU with native rayon on every core; the "
      "`RAYON_NUM_THREADS=1` row is the single-core comparison.\n")

ok = lambda c: "PASS" if c else "**MISS**"
targets = [
    ("std-hello image ≤ 500 KiB stripped", kib(hello_stripped), hello_stripped <= 500 * 1024),
    ("`kiln run` std-hello median ≤ 3 ms", ms(hello_g), hello_g <= 3e-3),
    ("std-hello runs with `--memory 4M`", E["MEM4M"], E["MEM4M"] == "yes"),
    ("spawn+join ≤ 20 µs", us(sg), sg <= 20e3),
    ("ping-pong round trip ≤ 2 µs", us(pg), pg <= 2e3),
    ("workload ≤ 1.1x native (both on every core)", f"{wg / wn:.3f}x", wg / wn <= 1.1),
]
print("| Target | Measured | Result |\n|---|---|---|")
for name, got, met in targets:
    print(f"| {name} | {got} | {ok(met)} |")
print(f"| (not a target) workload vs native on one rayon thread | {wg / wn1:.3f}x | {'≤ 1.2x' if wg / wn1 <= 1.2 else '> 1.2x'} |")
print()
missed = [name for name, _, met in targets if not met]
if missed:
    print("**Missed in this run:** " + "; ".join(missed) + ".")
else:
    print("All six targets met in this run.")
PY
