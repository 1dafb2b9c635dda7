#!/usr/bin/env bash
# The 40-model sweep of issue 13 (5 learning rates x 2 momenta x 4 seeds, 5
# epochs, 10,000 validation images) three ways on this machine: `softreg sweep`
# (all models in one pass over the data), the same 40 models as 40 `softreg
# train` runs one after another, and, if PyTorch is installed, the same loop in
# PyTorch (perf/pytorch_sweep.py). Whole commands are timed with hyperfine.
#
#   apt-get install hyperfine          # or: cargo install hyperfine
#   bash perf/sweep.sh [THREADS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
runs="${2:-5}"
command -v hyperfine >/dev/null || {
    echo "perf/sweep.sh: hyperfine is not installed; run 'apt-get install hyperfine' first" >&2
    exit 2
}
cargo build --release --quiet
bin=./target/release/softreg
sweep="$bin sweep --threads $threads --lr 0.01,0.03,0.1,0.3,1 --momentum 0,0.9 --seeds 0-3"
# Each run shuffles with its own seed (train has one seed for both), the same work.
one_by_one="for lr in 0.01 0.03 0.1 0.3 1; do for m in 0 0.9; do for s in 0 1 2 3; do \
$bin train --threads $threads --validation 10000 --lr \$lr --momentum \$m --seed \$s >/dev/null; \
done; done; done"
$sweep
echo
json=$(mktemp)
trap 'rm -f "$json"' EXIT
hyperfine --runs "$runs" --warmup 1 --export-json "$json" \
    --command-name "softreg sweep (40 models at once)" "$sweep" \
    --command-name "softreg train x 40 (one after another)" "$one_by_one"
python3 - "$json" <<'PY'
import json, sys
sweep, one_by_one = json.load(open(sys.argv[1]))["results"]
print(f"medians: sweep {sweep['median']:.3f} s, 40 x train {one_by_one['median']:.3f} s: "
      f"sweep {one_by_one['median'] / sweep['median']:.2f}x faster")
PY
if python3 -c "import torch" 2>/dev/null; then
    echo
    python3 perf/pytorch_sweep.py --threads "$threads" | tail -2
else
    echo "(PyTorch is not installed: 'pip install torch' to add its loop)"
fi
