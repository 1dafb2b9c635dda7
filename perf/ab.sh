#!/usr/bin/env bash
# Two softreg binaries side by side, interleaved (A B A B ...), so that a
# change in the machine's speed hits both alike: each run trains with the
# given flags and --json, and the median epoch throughput of every run is
# kept; printed are the medians over runs of each binary and their ratio B/A.
#
#   bash perf/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [TRAIN FLAGS...]
#   bash perf/ab.sh /tmp/old/softreg target/release/softreg 7 --threads 1 --epochs 10
#   bash perf/ab.sh A B 7 sweep --lr 0.01,0.03,0.1,0.3,1 --momentum 0,0.9 --seeds 0-3
#
# With `sweep` as the first flag the command is a sweep and its summary's
# model-samples/s is compared instead.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
a="$1" b="$2" rounds="${3:-5}"
shift $(( $# >= 3 ? 3 : 2 ))
command="train"
if [ "${1:-}" = "sweep" ]; then command="sweep"; shift; fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
    for side in a b; do
        bin=$a; [ "$side" = b ] && bin=$b
        "$bin" "$command" --json "$@" > "$out/$side.$round.json"
    done
done
python3 - "$out" "$rounds" "$command" "$a" "$b" <<'PY'
import json, statistics, sys
out, rounds, command, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def rate(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    if command == "sweep":
        return lines[-1]["model_samples_per_s"]
    return statistics.median(l["samples_per_s"] for l in lines if "samples_per_s" in l and "summary" not in l)
rates = {s: [rate(f"{out}/{s}.{r}.json") for r in range(1, rounds + 1)] for s in "ab"}
ratios = [rb / ra for ra, rb in zip(rates["a"], rates["b"])]
for side, name in (("a", a), ("b", b)):
    r = sorted(rates[side])
    print(f"{side} {name}: median {statistics.median(r) / 1e6:.3f} M/s (min {r[0] / 1e6:.3f}, max {r[-1] / 1e6:.3f}) over {rounds} runs")
print(f"b / a: median {statistics.median(ratios):.3f} (pairwise, min {min(ratios):.3f}, max {max(ratios):.3f})")
PY
