# What the kiln serve benchmarks do before measuring: check their tools,
# build kiln and examples/http-static, and export KILN, IMAGE, TRIALS and
# ROOT for their Python part (which imports bench/serve/serve_lib.py).
# Sourced after bench/lib.sh, with TRIALS set.
need python3 python3
need passt passt
cd "$ROOT"
KILN=target/release/kiln
build_kiln
log "building examples/http-static"
IMAGE=$(build_guest http-static)
export KILN IMAGE TRIALS ROOT
export PYTHONPATH="$ROOT/bench/serve${PYTHONPATH:+:$PYTHONPATH}"
