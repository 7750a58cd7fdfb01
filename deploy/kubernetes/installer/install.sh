#!/usr/bin/env bash
# The Kiln installer, run by the kiln-installer DaemonSet on each node (a
# privileged pod sharing the host's PID namespace, the host's root
# filesystem mounted at /host):
#
# 1. checks the node has /dev/kvm (a Kiln guest is a KVM VM);
# 2. copies kiln and containerd-shim-kiln-v1 into /usr/local/bin on the
#    host, which is on containerd's PATH;
# 3. adds the `kiln` runtime handler to the host's containerd config
#    (containerd-config.sh: containerd 1.x and 2.x schemas);
# 4. restarts containerd (systemd) so it reads the config;
# 5. labels the node kiln.dev/runtime=installed, the RuntimeClass's
#    nodeSelector, so Kiln pods are only scheduled where they can run;
#
# then sleeps, so the DaemonSet's pod stays Running. Env: NODE_NAME (from
# the downward API), HOST (default /host), CONTAINERD_CONFIG (default
# /etc/containerd/config.toml), KILN_HANDLER (default kiln).
set -euo pipefail
HOST=${HOST:-/host}
CONFIG=${CONTAINERD_CONFIG:-/etc/containerd/config.toml}
here=$(dirname "$0")
log() { echo "kiln-installer: $*" >&2; }
[[ -n ${NODE_NAME:-} ]] || { log "NODE_NAME is not set (the DaemonSet sets it from spec.nodeName)"; exit 2; }
[[ -c $HOST/dev/kvm ]] || { log "node $NODE_NAME has no /dev/kvm: Kiln cannot run here; not installing"; exit 1; }

log "copying kiln and containerd-shim-kiln-v1 to $HOST/usr/local/bin"
for binary in kiln containerd-shim-kiln-v1; do
    install -D -m 0755 "$here/bin/$binary" "$HOST/usr/local/bin/$binary.new"
    mv "$HOST/usr/local/bin/$binary.new" "$HOST/usr/local/bin/$binary"
done

if [[ ! -f $HOST$CONFIG ]]; then
    log "no $CONFIG on the host: writing containerd's defaults first"
    mkdir -p "$(dirname "$HOST$CONFIG")"
    nsenter --target 1 --mount -- containerd config default >"$HOST$CONFIG"
fi
"$here/containerd-config.sh" add "$HOST$CONFIG"

log "restarting containerd"
nsenter --target 1 --mount --uts --ipc --net --pid -- systemctl restart containerd
log "labelling node $NODE_NAME"
kubectl label node "$NODE_NAME" kiln.dev/runtime=installed --overwrite
log "done"
exec sleep infinity
