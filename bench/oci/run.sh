#!/usr/bin/env bash
# Images through a registry: `kiln pull` + first boot of examples/http-hello
# from a loopback registry (Debian's docker-registry, started here), side by
# side with `kiln run` of the same image's local file and the raw transfer
# of the image's bytes from the registry (manifest, config and layer by
# plain HTTP GETs); then the pushed image's size beside the same program as
# a container image built the usual ways: a static binary on `scratch`, and
# on a minimal Debian root filesystem (debootstrap --variant=minbase, what
# debian:bookworm-slim is made from).
#
# A boot is timed from spawning `kiln run --net ports -p PORT:80 ...` to the
# first HTTP answer on PORT; a pull+boot starts each trial with an empty
# state directory. Trials interleave the three measures.
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.
#
#   bench/oci/run.sh > oci.md
#
# Env: BENCH_TRIALS (default 30, min 10); BENCH_DEBIAN=0 skips the Debian
# base (debootstrap downloads ~40 MB once, kept in bench/oci/target);
# BENCH_BASE_KILN=PATH also times that kiln's pull + first boot in the same
# trials, beside this tree's (an A/B of a change).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TRIALS=$(runs_from_env BENCH_TRIALS 30 10)
need python3 python3
need docker-registry docker-registry
need curl curl
cd "$ROOT"
KILN=target/release/kiln
build_kiln
WORK=bench/oci/target
mkdir -p "$WORK"
SCRATCH=$(mktemp -d)
REGISTRY_PID=
cleanup() {
    [[ -n $REGISTRY_PID ]] && kill "$REGISTRY_PID" 2>/dev/null
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

PORT=$(free_port)
cat > "$SCRATCH/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $SCRATCH/registry
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$SCRATCH/registry.yml" >/dev/null 2>&1 &
REGISTRY_PID=$!
wait_http "http://127.0.0.1:$PORT/v2/"

REF="localhost:$PORT/http-hello:bench"
log "building examples/http-hello and pushing it as $REF"
export KILN_STATE_DIR="$SCRATCH/state"
IMAGE=$("$KILN" build --release examples/http-hello -t "$REF" --expose 80 | head -1)
IMAGE=${IMAGE% (*}
"$KILN" push "$REF" >&2

log "building http-hello natively, static (+crt-static), for the container-image sizes"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
    --manifest-path examples/Cargo.toml -p http-hello --target x86_64-unknown-linux-gnu \
    --target-dir "$WORK/static" >&2
NATIVE="$WORK/static/x86_64-unknown-linux-gnu/release/http-hello"
DEBIAN_ROOT=
if [[ ${BENCH_DEBIAN:-1} != 0 ]]; then
    need debootstrap debootstrap
    if [[ ! -f $WORK/debian-minbase/etc/debian_version ]]; then
        log "debootstrap --variant=minbase bookworm (once)"
        rm -rf "$WORK/debian-minbase"
        debootstrap --variant=minbase bookworm "$WORK/debian-minbase" http://deb.debian.org/debian >&2
        rm -rf "$WORK/debian-minbase/var/cache/apt/archives/"*.deb "$WORK/debian-minbase/var/lib/apt/lists/"*
    fi
    DEBIAN_ROOT="$WORK/debian-minbase"
fi

BASE_KILN=${BENCH_BASE_KILN:-}
export KILN IMAGE REF PORT TRIALS NATIVE DEBIAN_ROOT SCRATCH BASE_KILN
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC') MACHINE=$(machine_note) python3 - <<'PY'
import gzip, io, json, os, shutil, socket, statistics as st, subprocess, tarfile, time, urllib.request
E = os.environ
KILN, IMAGE, REF, PORT, TRIALS = E["KILN"], E["IMAGE"], E["REF"], E["PORT"], int(E["TRIALS"])
REGISTRY = f"http://127.0.0.1:{PORT}"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def first_answer(target, state, kiln=KILN):
    """Seconds from spawning kiln run to the first HTTP answer."""
    port = free_port()
    env = dict(os.environ, KILN_STATE_DIR=state)
    start = time.perf_counter()
    child = subprocess.Popen([kiln, "run", "--net", "ports", "-p", f"127.0.0.1:{port}:80", target],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                    if s.recv(16).startswith(b"HTTP/1.1 200"):
                        return time.perf_counter() - start
            except OSError:
                pass
            if child.poll() is not None:
                raise SystemExit(f"kiln run {target} ended with {child.returncode}")
            if time.perf_counter() - start > 20:
                raise SystemExit(f"no answer from kiln run {target}")
            time.sleep(0.0005)
    finally:
        child.kill()
        child.wait()

def get(path, accept=None):
    request = urllib.request.Request(REGISTRY + path, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request) as response:
        return response.read()

repository, tag = REF.split("/", 1)[1].rsplit(":", 1)
manifest = json.loads(get(f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPE))
blobs = [manifest["config"]] + manifest["layers"]

def raw_transfer():
    start = time.perf_counter()
    size = len(get(f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPE))
    for blob in blobs:
        size += len(get(f"/v2/{repository}/blobs/{blob['digest']}"))
    return time.perf_counter() - start, size

BASE = E.get("BASE_KILN")
local, pulled, transfer, base_pulled = [], [], [], []
for trial in range(TRIALS):
    local.append(first_answer(IMAGE, os.path.join(E["SCRATCH"], "local-state")))
    state = os.path.join(E["SCRATCH"], f"pull-{trial}")
    pulled.append(first_answer(REF, state))
    shutil.rmtree(state)
    if BASE:
        base_pulled.append(first_answer(REF, state, BASE))
        shutil.rmtree(state)
    seconds, pushed_bytes = raw_transfer()
    transfer.append(seconds)

ms = lambda xs: st.median(xs) * 1000
bound = ms(local) + ms(transfer)

def layer_size(files):
    """A gzip-compressed tar of (name, path) as a layer, like docker build's."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for name, path in files:
                tar.add(path, arcname=name)
    return len(buffer.getvalue())

native = E["NATIVE"]
scratch_image = layer_size([("http-hello", native)])
debian = None
if E.get("DEBIAN_ROOT"):
    root = E["DEBIAN_ROOT"]
    debian = layer_size([(".", root)]) + scratch_image

print(f"## Images through a registry\n")
print(f"_Measured {E['WHEN']} on {E['MACHINE']}._\n")
print(f"Command: `bench/oci/run.sh` (BENCH_TRIALS={TRIALS}): a loopback docker-registry; each trial times "
      f"`kiln run --net ports -p PORT:80` of the local `http-hello` image file to its first HTTP answer, "
      f"`kiln run ... {REF.split('/',1)[0]}/http-hello:bench` with an empty state directory (pull, unpack, boot) "
      f"to its first answer, and plain HTTP GETs of the image's manifest and blobs (the raw transfer).\n")
print("| Measure | Median | |")
print("|---|---|---|")
print(f"| `kiln run` of the local file, to the first answer | {ms(local):.1f} ms | |")
print(f"| raw transfer of the image's {pushed_bytes} bytes | {ms(transfer):.1f} ms | |")
print(f"| `kiln pull` + first boot (run by reference, empty store), to the first answer | {ms(pulled):.1f} ms | "
      f"**{ms(pulled) / bound:.2f}x** local run + raw transfer (target ≤ 1.5x) |")
if BASE:
    print(f"| the same with `{BASE}` (BENCH_BASE_KILN) | {ms(base_pulled):.1f} ms | "
          f"this tree's is **{ms(pulled) / ms(base_pulled):.2f}x** of it |")
print()
print("| Image of http-hello | Compressed size |")
print("|---|---|")
print(f"| Kiln OCI image as pushed (manifest + config + layer) | {pushed_bytes / 1024:.1f} KiB (target ≤ 1.5 MiB) |")
print(f"| static native binary (+crt-static, unstripped, as cargo builds it) on `scratch`: one gzip layer | {scratch_image / 1024:.1f} KiB |")
if debian:
    print(f"| the same on a minimal Debian bookworm (debootstrap minbase) base: two gzip layers | {debian / 1048576:.1f} MiB |")
PY
