#!/usr/bin/env python3
"""The tutorial's softmax regression in NumPy (on its BLAS), for comparison with softreg.

Same algorithm and hyperparameters as `softreg train`: W ~ N(0, 0.01) 784x10,
b = 0, lr 0.1, batch 256, 5 epochs, reshuffled each epoch, mean cross-entropy,
plain SGD, float32 throughout. The data set is read once from the bundled idx
files into arrays, so the timing is of the training arithmetic: a gather of the
minibatch, the logits GEMM, a stable log-softmax, and the gradient GEMM, as a
NumPy user writes it. Prints the same epoch lines as softreg.

    pip install numpy threadpoolctl
    python3 perf/numpy_baseline.py --threads 2
"""

import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import baseline


def load(data_dir, stem):
    """The array of an idx file in `data_dir` as a uint8 array of its shape."""
    dims, body = baseline.load(data_dir, stem)
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def main():
    args = baseline.arguments(__doc__.splitlines()[0])

    with threadpool_limits(limits=args.threads):
        blas = ", ".join(
            f"{p['internal_api']} {p['version']} ({p.get('architecture')}, {p['num_threads']} threads)"
            for p in threadpool_info()
        )
        rng = np.random.default_rng(args.seed)
        scale = np.float32(1 / 255)
        train_x = load(args.data, "train-images-idx3-ubyte").reshape(-1, 784).astype(np.float32) * scale
        train_y = load(args.data, "train-labels-idx1-ubyte").astype(np.int64)
        test_x = load(args.data, "t10k-images-idx3-ubyte").reshape(-1, 784).astype(np.float32) * scale
        test_y = load(args.data, "t10k-labels-idx1-ubyte").astype(np.int64)
        n = len(train_y)
        print(
            f"numpy {np.__version__} on {blas}: {n} train / {len(test_y)} test images, "
            f"batch {args.batch_size}, lr {args.lr}"
        )
        w = rng.normal(0, 0.01, size=(784, 10)).astype(np.float32)
        b = np.zeros(10, dtype=np.float32)
        lr = np.float32(args.lr)
        start_all = time.perf_counter()
        train_seconds = 0.0
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(n)
            loss_sum, correct = 0.0, 0
            start = time.perf_counter()
            for i in range(0, n, args.batch_size):
                rows = order[i : i + args.batch_size]
                x, y = train_x[rows], train_y[rows]
                logits = x @ w + b
                shifted = logits - logits.max(axis=1, keepdims=True)
                exps = np.exp(shifted)
                sums = exps.sum(axis=1, keepdims=True)
                picked = np.arange(len(rows))
                loss_sum += float((np.log(sums[:, 0]) - shifted[picked, y]).sum())
                correct += int((logits.argmax(axis=1) == y).sum())
                grad = exps / sums
                grad[picked, y] -= 1
                grad /= np.float32(len(rows))
                w -= lr * (x.T @ grad)
                b -= lr * grad.sum(axis=0)
            seconds = time.perf_counter() - start
            train_seconds += seconds
            test_acc = float(((test_x @ w + b).argmax(axis=1) == test_y).mean())
            baseline.print_epoch(epoch, n, loss_sum, correct, test_acc, seconds)
        baseline.print_summary(args.epochs, train_seconds, time.perf_counter() - start_all)


if __name__ == "__main__":
    main()
