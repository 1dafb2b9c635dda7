#!/usr/bin/env bash
# Runs softreg and a Python baseline (NumPy on its BLAS, or PyTorch) with the
# same settings on this machine, one after the other, and prints each one's
# median epoch throughput and their ratio.
#
#   pip install numpy threadpoolctl   # or: pip install torch (several GB)
#   bash perf/compare.sh [THREADS] [numpy|pytorch]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
baseline="${2:-numpy}"
case "$baseline" in
numpy) module=numpy install="numpy threadpoolctl" ;;
pytorch) module=torch install="torch" ;;
*)
    echo "perf/compare.sh: unknown baseline '$baseline': use numpy or pytorch" >&2
    exit 2
    ;;
esac

python3 -c "import $module" 2>/dev/null || {
    echo "perf/compare.sh: $baseline is not installed; run 'pip install $install' first" >&2
    exit 2
}

cargo build --release --quiet
softreg_out=$(./target/release/softreg train --threads "$threads")
torch_out=$(python3 "perf/${baseline}_baseline.py" --threads "$threads")
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
echo "median epoch throughput, $threads threads: softreg $ours M samples/s, $baseline $theirs M samples/s"
awk -v a="$ours" -v b="$theirs" -v name="$baseline" 'BEGIN { printf "softreg / %s: %.2fx\n", name, a / b }'
