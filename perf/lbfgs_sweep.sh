#!/usr/bin/env bash
# Eight regularisation strengths fitted by L-BFGS three ways on this machine:
# `softreg sweep --optimizer lbfgs` along the path (the default: strongest
# first, each from near the previous optimum), the same sweep with
# `--from-zero` (every strength from zero, in lockstep), and the eight
# `softreg train --optimizer lbfgs` runs one after another. Whole commands
# are timed with hyperfine; medians and their ratios.
#
#   apt-get install hyperfine          # or: cargo install hyperfine
#   bash perf/lbfgs_sweep.sh [THREADS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
runs="${2:-5}"
command -v hyperfine >/dev/null || {
    echo "perf/lbfgs_sweep.sh: hyperfine is not installed; run 'apt-get install hyperfine' first" >&2
    exit 2
}
cargo build --release --quiet
bin=./target/release/softreg
strengths="0.001 0.003 0.01 0.03 0.1 0.3 1 3"
sweep="$bin sweep --optimizer lbfgs --threads $threads --validation 10000 --C ${strengths// /,}"
one_by_one="for c in $strengths; do \
$bin train --optimizer lbfgs --threads $threads --validation 10000 --C \$c >/dev/null; done"
$sweep | tail -10
echo
json=$(mktemp)
trap 'rm -f "$json"' EXIT
hyperfine --runs "$runs" --warmup 1 --export-json "$json" \
    --command-name "sweep along the path" "$sweep" \
    --command-name "sweep --from-zero (lockstep)" "$sweep --from-zero" \
    --command-name "train x 8 (one after another)" "$one_by_one"
python3 - "$json" <<'PY'
import json, sys
path, zero, one_by_one = (r["median"] for r in json.load(open(sys.argv[1]))["results"])
print(f"medians: path {path:.3f} s, from zero {zero:.3f} s, 8 x train {one_by_one:.3f} s: "
      f"path {one_by_one / path:.2f}x, from zero {one_by_one / zero:.2f}x faster than 8 x train")
PY
