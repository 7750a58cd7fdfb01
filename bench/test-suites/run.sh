#!/usr/bin/env bash
# Popular crates' own test suites, natively (`cargo test --tests`) and as
# unikernels (`kiln test --tests`), side by side: tests passed, failed and
# ignored per crate, and the time of the second run of each (the build
# excluded: both are built by a first run). Doc tests are left out on both
# sides (`--tests`): kiln test does not run them.
#
# The crates' published sources come from crates.io through `cargo vendor`
# of a scratch crate that depends on them (the newest versions), each then
# its own workspace under bench/test-suites/target/crates.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/test-suites/run.sh > test-suites.md
#   BENCH_CRATES="itoa hex" bench/test-suites/run.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

read -r -a CRATES <<< "${BENCH_CRATES:-regex serde_json chrono uuid rand tempfile walkdir memchr url csv bytes flate2 smallvec itertools crossbeam-channel parking_lot}"
need python3 python3
cd "$ROOT"
build_kiln
KILN="$ROOT/target/release/kiln"
WORK="$ROOT/bench/test-suites/target"
mkdir -p "$WORK/fetch/src" "$WORK/crates"
log "fetching ${CRATES[*]} (cargo vendor)"
{
    printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n\n[dependencies]\n'
    for crate in "${CRATES[@]}"; do printf '%s = "*"\n' "$crate"; done
} > "$WORK/fetch/Cargo.toml"
touch "$WORK/fetch/src/lib.rs"
rm -rf "$WORK/fetch/vendor"
(cd "$WORK/fetch" && cargo vendor --quiet --versioned-dirs vendor > /dev/null)

results="$WORK/results.tsv"
: > "$results"
for crate in "${CRATES[@]}"; do
    source_dir=$(find "$WORK/fetch/vendor" -maxdepth 1 -name "$crate-[0-9]*" | sort -V | tail -1)
    [[ -n $source_dir ]] || die "cargo vendor did not fetch $crate"
    version=${source_dir##*/"$crate"-}
    dir="$WORK/crates/$crate"
    if [[ ! -f $dir/.kiln-bench-version || $(cat "$dir/.kiln-bench-version") != "$version" ]]; then
        rm -rf "$dir"
        cp -r "$source_dir" "$dir"
        rm -f "$dir/.cargo-checksum.json"
        grep -q '^\[workspace\]' "$dir/Cargo.toml" || printf '\n[workspace]\n' >> "$dir/Cargo.toml"
        echo "$version" > "$dir/.kiln-bench-version"
    fi
    log "$crate $version: native"
    (cd "$dir" && cargo test --tests --no-fail-fast > /dev/null 2>&1 || true)
    start=$(date +%s.%N)
    (cd "$dir" && cargo test --tests --no-fail-fast > "$WORK/$crate.native.txt" 2>&1 || true)
    native_s=$(echo "$(date +%s.%N) - $start" | bc)
    log "$crate $version: kiln"
    "$KILN" test "$dir" --tests --no-fail-fast > /dev/null 2>&1 || true
    start=$(date +%s.%N)
    "$KILN" test "$dir" --tests --no-fail-fast > "$WORK/$crate.kiln.txt" 2>&1 || true
    kiln_s=$(echo "$(date +%s.%N) - $start" | bc)
    printf '%s\t%s\t%s\t%s\n' "$crate" "$version" "$native_s" "$kiln_s" >> "$results"
done

export WORK
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import os, re
E = os.environ
work = E["WORK"]

def counts(path):
    passed = failed = ignored = 0
    for line in open(path, errors="replace"):
        m = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
        if m:
            passed += int(m[1]); failed += int(m[2]); ignored += int(m[3])
    unbuilt = sum(1 for line in open(path, errors="replace") if "needs C-library functions" in line)
    return passed, failed, ignored, unbuilt

print("## Test suites of popular crates: `kiln test` vs `cargo test`\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print("Command: `bench/test-suites/run.sh`: each crate's published sources (newest version, through `cargo vendor`), "
      "`cargo test --tests --no-fail-fast` natively and `kiln test --tests --no-fail-fast`, each run twice; "
      "times are the second runs (builds excluded). Doc tests are left out on both sides.\n")
print("| crate | version | native passed / failed / ignored | Kiln passed / failed / ignored | Kiln of native | time native | time Kiln | ratio |")
print("|---|---|---|---|---|---|---|---|")
for row in open(os.path.join(work, "results.tsv")):
    crate, version, native_s, kiln_s = row.split("\t")
    n = counts(os.path.join(work, f"{crate}.native.txt"))
    k = counts(os.path.join(work, f"{crate}.kiln.txt"))
    share = f"{100 * k[0] / n[0]:.1f}%" if n[0] else "-"
    unbuilt = f" ({k[3]} binaries not built)" if k[3] else ""
    print(f"| {crate} | {version} | {n[0]} / {n[1]} / {n[2]} | {k[0]} / {k[1]} / {k[2]}{unbuilt} | {share} | "
          f"{float(native_s):.2f} s | {float(kiln_s):.2f} s | {float(kiln_s) / float(native_s):.2f}x |")
PY
