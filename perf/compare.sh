#!/usr/bin/env bash
# Runs softreg and the PyTorch baseline with the same settings on this machine
# and prints each one's median epoch throughput and their ratio.
#
#   pip install torch            # once; several GB
#   bash perf/compare.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"

python3 -c 'import torch' 2>/dev/null || {
    echo "perf/compare.sh: PyTorch is not installed; run 'pip install torch' first" >&2
    exit 2
}

cargo build --release --quiet
softreg_out=$(./target/release/softreg train --threads "$threads")
torch_out=$(python3 perf/pytorch_baseline.py --threads "$threads")
echo "$softreg_out"
echo "$torch_out"

# The median of the per-epoch samples/s figures in a run's epoch lines.
median_rate() {
    grep '^epoch ' | sed -E 's/.*, ([0-9.]+) M samples\/s.*/\1/' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ours=$(median_rate <<<"$softreg_out")
theirs=$(median_rate <<<"$torch_out")
echo
echo "median epoch throughput, $threads threads: softreg $ours M samples/s, pytorch $theirs M samples/s"
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "softreg / pytorch: %.2fx\n", a / b }'
