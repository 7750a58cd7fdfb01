#!/usr/bin/env bash
# Kiln pods through Kubernetes' CRI beside runc and crun pods, through the
# same containerd (Debian's 1.6, started privately with its CRI plugin, a
# `kiln`, a `runc` and a `crun` runtime handler, and a CNI bridge): the
# harness is the CRI tests' own (crates/kiln-shim/tests/support), driven by
# the ignored test crates/kiln-shim/tests/k8s_bench.rs with release
# binaries.
#
# - start: from CRI CreateContainer+StartContainer in a ready pod to the
#   first HTTP response on the pod IP, examples/http-hello as a Kiln guest
#   vs the same program built natively and static (+crt-static) in an OCI
#   image under runc and under crun; trials alternate;
# - density: BENCH_PODS pods serving at once, host memory per pod (the
#   pods' processes' summed PSS, and the MemAvailable drop), each runtime
#   in turn.
#
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/k8s/run.sh > k8s.md
#
# Env: BENCH_TRIALS (default 20, min 10), BENCH_PODS (default 200, min 10).
# Needs root, /dev/kvm, containerd, runc, crun and containernetworking-plugins.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BENCH_TRIALS=$(runs_from_env BENCH_TRIALS 20 10)
BENCH_PODS=$(runs_from_env BENCH_PODS 200 10)
export BENCH_TRIALS BENCH_PODS
[[ $(id -u) -eq 0 ]] || die "CRI pods need root"
need containerd containerd
need runc runc
need crun crun
[[ -x /usr/lib/cni/bridge ]] || need /usr/lib/cni/bridge containernetworking-plugins
# crun refuses a hybrid cgroup layout (v1 controllers, cgroup2 at
# /sys/fs/cgroup/unified, a folder only hybrid layouts have) whose cgroup2
# still holds a controller ("cgroups in hybrid mode not supported"). Some
# hosts mount every v1 controller but one (hugetlb here): mount the rest on
# v1, as systemd's hybrid layout does. It stays mounted (a host setting,
# harmless to runc and Kiln). cgroup files all read as size 0: read it.
CONTROLLERS=$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)
if [[ -n $CONTROLLERS ]]; then
    for controller in $CONTROLLERS; do
        log "mounting the $controller cgroup controller on v1 (for crun)"
        mkdir -p "/sys/fs/cgroup/$controller"
        mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller"
    done
fi
cd "$ROOT"
log "building kiln and the shim (release)"
cargo build --release --quiet -p kiln-cli -p kiln-shim >&2
WORK=bench/k8s/target
log "building http-hello natively, static (+crt-static), for the runc and crun pods"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
    --manifest-path examples/Cargo.toml -p http-hello --target x86_64-unknown-linux-gnu \
    --target-dir "$WORK/static" >&2
export BENCH_NATIVE="$ROOT/$WORK/static/x86_64-unknown-linux-gnu/release/http-hello"
export KILN_BINARIES="$ROOT/target/release"
log "machine: $(machine_note)"
export BENCH_OUT="$ROOT/$WORK/k8s.md"
mkdir -p "$WORK"
cargo test -p kiln-shim --test k8s_bench -- --ignored --nocapture --test-threads 1 >&2
cat "$BENCH_OUT"
printf '\nMachine: %s.\n' "$(machine_note)"
