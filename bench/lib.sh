# Shared helpers for the bench/*/run.sh scripts (sourced, not executed).
# shellcheck shell=bash

# Repository root, so the scripts work from any cwd and print short,
# copy-pasteable relative paths in their reports.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need COMMAND DEBIAN-PACKAGE: a missing tool is installed when we can
# (root + apt-get), otherwise we stop and name the package to install.
need() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing $pkg (for $cmd)"
        apt-get install -y -q "$pkg" >&2 || { apt-get update -q >&2 && apt-get install -y -q "$pkg" >&2; } \
            || die "could not install Debian package '$pkg' (needed for $cmd)"
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found: install the Debian package '$pkg'"
}

# Integer env var with a default and a floor (too few runs on this noisy
# machine give medians that are not worth reporting).
runs_from_env() {
    local name=$1 default=$2 floor=$3 value
    value=${!name:-$default}
    [[ $value =~ ^[0-9]+$ ]] || die "$name must be a number, got '$value'"
    ((value >= floor)) || die "$name must be at least $floor, got $value"
    echo "$value"
}

# Builds the host tool and a release guest image; prints the image path
# (`kiln build` prints "PATH (SIZE)" on stdout).
build_kiln() {
    log "building kiln (release)"
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" >&2
}
build_guest() {
    local out
    out=$("$ROOT/target/release/kiln" build --release "$ROOT/examples/$1")
    out=${out% (*}
    [[ -f $out ]] || die "kiln build did not produce an image for examples/$1 (got '$out')"
    echo "${out#"$ROOT"/}"
}

# build_pvh_floor OUT [GCC-FLAGS...]: a hypervisor's floor image, a PVH ELF
# whose first instruction ends the VM (bench/pvh/floor.S).
build_pvh_floor() {
    local out=$1
    shift
    gcc -nostdlib -static -no-pie -Wl,-Ttext=0x100000 -Wl,--build-id=none -Wl,-e,start \
        "$@" -o "$out" "$ROOT/bench/pvh/floor.S"
}

# A free TCP port on the loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL [NETNS]: until the URL answers at all (from inside NETNS if
# given), for at most 10 s.
wait_http() {
    local url=$1 prefix=()
    [[ -n ${2:-} ]] && prefix=(ip netns exec "$2")
    for _ in $(seq 1 1000); do
        "${prefix[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null | grep -qv '^000$' && return 0
        sleep 0.01
    done
    die "no answer from $url"
}

# tap_namespace NS: a network namespace with the loopback up and a TAP
# device `ktap0` at 10.0.9.1/24, for a guest at 10.0.9.2 (`--net tap:ktap0`)
# and its client, both run inside it.
tap_namespace() {
    ip netns add "$1"
    ip netns exec "$1" ip link set lo up
    ip netns exec "$1" ip tuntap add dev ktap0 mode tap
    ip netns exec "$1" ip addr add 10.0.9.1/24 dev ktap0
    ip netns exec "$1" ip link set ktap0 up
}

# One Markdown line describing the machine: figures mean little without it.
machine_note() {
    local virt="KVM"
    if grep -q pvm /proc/modules 2>/dev/null || [[ -d /sys/module/kvm_pvm ]]; then
        virt="kvm_pvm (software virtualization)"
    fi
    printf 'Linux %s, %s, %s CPUs, %s' "$(uname -r)" "$virt" "$(nproc)" "$(rustc --version)"
}
