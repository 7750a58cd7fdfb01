#!/usr/bin/env bash
# Cold builds of a new std crate: plain `cargo build` side by side with
# `kiln build`, each from an empty target directory, with Kiln's C library
# already in the per-user cache (built once per toolchain, shared by every
# crate). Two fresh crates: `hello` (no dependencies) and `with-deps`
# (serde_json and regex). Also times the C library's own first build, into
# an empty cache (once; what every crate paid before the cache).
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/cold-build/run.sh > cold-build.md
#
# Env: BENCH_RUNS (cold builds per command, default 5, min 3).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS=$(runs_from_env BENCH_RUNS 5 3)
need hyperfine hyperfine
need python3 python3
cd "$ROOT"
build_kiln
KILN=$ROOT/target/release/kiln
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# new_crate NAME DEPENDENCIES MAIN: a fresh binary crate under $WORK.
new_crate() {
    mkdir -p "$WORK/$1/src"
    printf '[package]\nname = "%s"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\n%s' \
        "$1" "$2" >"$WORK/$1/Cargo.toml"
    printf '%s\n' "$3" >"$WORK/$1/src/main.rs"
}
new_crate hello '' 'fn main() { println!("hello"); }'
new_crate with-deps $'serde_json = "1"\nregex = "1"\n' \
    'fn main() { let v: serde_json::Value = serde_json::from_str("[1,2]").unwrap(); let r = regex::Regex::new("a+").unwrap(); println!("{v} {}", r.is_match("caat")); }'
# Resolve (offline when the registry cache allows) outside the timings.
for c in hello with-deps; do (cd "$WORK/$c" && cargo generate-lockfile --quiet); done

log "the C library's first build, into an empty cache"
start=$(date +%s.%N)
XDG_CACHE_HOME=$WORK/empty-cache CARGO_TARGET_DIR=$WORK/first "$KILN" build "$WORK/hello" >/dev/null 2>&1
first=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
log "warming the user's cache"
CARGO_TARGET_DIR=$WORK/warm "$KILN" build "$WORK/hello" >/dev/null 2>&1

for c in hello with-deps; do
    log "cold builds of $c ($RUNS each)"
    hyperfine --runs "$RUNS" --export-json "$WORK/$c.json" --style basic \
        --prepare "rm -rf $WORK/target-cargo $WORK/target-kiln" \
        -n "cargo build" "CARGO_TARGET_DIR=$WORK/target-cargo cargo build --quiet --manifest-path $WORK/$c/Cargo.toml" \
        -n "kiln build" "CARGO_TARGET_DIR=$WORK/target-kiln $KILN build $WORK/$c" >&2
done

export WORK FIRST=$first
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import json, os, statistics as st
E = os.environ
print("## Cold builds of a new std crate (`bench/cold-build/run.sh`)\n")
print(f"{E['WHEN']}, {E['MACHINE']}. Each build starts from an empty target directory; Kiln's C")
print("library is already in the per-user cache. Medians of one hyperfine invocation per crate.\n")
print("| crate | `cargo build` | `kiln build` | kiln − cargo | ratio | target: kiln ≤ cargo + 10 s |")
print("|---|---|---|---|---|---|")
for crate in ("hello", "with-deps"):
    with open(f"{E['WORK']}/{crate}.json") as f:
        results = {r["command"]: st.median(r["times"]) for r in json.load(f)["results"]}
    cargo, kiln = results["cargo build"], results["kiln build"]
    met = "met" if kiln <= cargo + 10 else "**missed**"
    print(f"| {crate} | {cargo:.2f} s | {kiln:.2f} s | {kiln - cargo:+.2f} s | {kiln / cargo:.2f}x | {met} |")
print(f"\nThe first `kiln build` of `hello` into an empty cache, the C library's build for this toolchain included (once): {E['FIRST']} s.")
PY
