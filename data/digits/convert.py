"""Converts scikit-learn's copy of the UCI optical handwritten digits
(sklearn/datasets/data/digits.csv.gz: 1,797 images of 8x8, values 0-16, and
their labels) into the .npy files softreg reads: 8x8 float32 images scaled to
[0, 1], int64 labels, the last fifth of a fixed shuffle as the test split.

    python3 convert.py path/to/digits.csv.gz
"""
import sys

import numpy as np

table = np.loadtxt(sys.argv[1], delimiter=",")
images = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 8, 8)
labels = table[:, 64].astype(np.int64)
order = np.random.default_rng(0).permutation(len(labels))
test = len(labels) // 5
for name, rows in (("train", order[:-test]), ("test", order[-test:])):
    np.save(f"{name}_x.npy", np.ascontiguousarray(images[rows]))
    np.save(f"{name}_y.npy", labels[rows])
