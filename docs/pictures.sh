#!/usr/bin/env bash
# Draws the pictures docs/GUIDE.md shows, with the release binary, from the
# bundled data: the tutorial's curves, the first 16 test images with their
# predictions, and the sweep's picture (whose text output the guide quotes).
#
#   bash docs/pictures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
softreg=target/release/softreg
model=$(mktemp -d)/model.safetensors
trap 'rm -rf "$(dirname "$model")"' EXIT
"$softreg" train --save "$model" --plot docs/curves.png
"$softreg" predict --model "$model" --count 16 --plot docs/predictions.png
"$softreg" sweep --lr 0.01,0.03,0.1,0.3,1 --momentum 0,0.9 --weight-decay 0,1e-4 --seeds 0-3 \
    --plot docs/sweep.png
