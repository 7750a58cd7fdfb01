#!/usr/bin/env bash
# containerd-config.sh add|remove CONFIG
#
# Adds the Kiln runtime handler to a containerd config file, or removes it:
# the runtime `io.containerd.kiln.v1` (the binary containerd-shim-kiln-v1
# on containerd's PATH) under the CRI handler name $KILN_HANDLER (default
# `kiln`, the RuntimeClass's `handler`). The table's name follows the
# config's schema version:
#
#   version 1 (containerd 1.x, old files) plugins.cri.containerd.runtimes.kiln
#   version 2 (containerd 1.5-1.7)        plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kiln
#   version 3 (containerd 2.x)            plugins."io.containerd.cri.v1.runtime".containerd.runtimes.kiln
#
# The lines it adds sit between two marker comments at the end of the file,
# so running it again replaces them and `remove` takes exactly them out. A
# runtime of that name defined elsewhere in the file is an error (exit 3):
# the file is someone else's to change. The first edit keeps a copy of the
# original as CONFIG.before-kiln. Exit codes: 2 usage, 3 a conflict, 4 no
# such file.
set -euo pipefail

usage() {
    echo "usage: $0 add|remove CONFIG" >&2
    exit 2
}
[[ $# -eq 2 ]] || usage
action=$1 config=$2
[[ $action == add || $action == remove ]] || usage
handler=${KILN_HANDLER:-kiln}
[[ $handler =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || {
    echo "error: KILN_HANDLER '$handler' is not a valid RuntimeClass handler (lowercase letters, digits, '-')" >&2
    exit 2
}
[[ -f $config ]] || {
    echo "error: no containerd config at $config (write one with: containerd config default > $config)" >&2
    exit 4
}

begin="# BEGIN Kiln runtime ($handler), managed by containerd-config.sh"
end="# END Kiln runtime ($handler)"

# The file without our block.
without_block() {
    awk -v begin="$begin" -v end="$end" '
        $0 == begin { skipping = 1; next }
        $0 == end { skipping = 0; next }
        !skipping { print }
    ' "$config"
}

version=$(sed -n -E 's/^[[:space:]]*version[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "$config" | head -n 1)
case ${version:-1} in
1) plugin='plugins.cri' ;;
2) plugin='plugins."io.containerd.grpc.v1.cri"' ;;
3) plugin='plugins."io.containerd.cri.v1.runtime"' ;;
*)
    echo "error: $config has config version $version; this script knows versions 1-3" >&2
    exit 3
    ;;
esac
table="$plugin.containerd.runtimes.$handler"

tmp=$(mktemp "$config.XXXXXX")
trap 'rm -f "$tmp"' EXIT
without_block >"$tmp"
if [[ $action == add ]]; then
    # The same table written by someone else (spaces inside the brackets
    # allowed, as TOML does).
    if tr -d ' \t' <"$tmp" | grep -qxF "[${table// /}]"; then
        echo "error: $config already defines [$table] outside this script's block; remove it first" >&2
        exit 3
    fi
    [[ -e $config.before-kiln ]] || cp -p "$config" "$config.before-kiln"
    {
        [[ -s $tmp && -n $(tail -c 1 "$tmp") ]] && echo
        echo "$begin"
        echo "[$table]"
        echo '  runtime_type = "io.containerd.kiln.v1"'
        echo "$end"
    } >>"$tmp"
fi
chmod --reference="$config" "$tmp"
mv "$tmp" "$config"
trap - EXIT
echo "$action: [$table] in $config (config version ${version:-1})" >&2
