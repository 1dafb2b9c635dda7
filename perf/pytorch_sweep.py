#!/usr/bin/env python3
"""The 40-model sweep of `perf/sweep.sh` in PyTorch: one idiomatic run after another.

What a user writes to pick settings: a loop over learning rates, momenta and
seeds, each run an `nn.Linear(784, 10)` trained with `torch.optim.SGD` and
`F.cross_entropy` on minibatches of 256 drawn from a reshuffled order, the last
10,000 training images held out and scored after training, then the test set.
The data is read once into tensors (no DataLoader), so the timing is of the
training arithmetic. Prints one line per model, the best by validation
accuracy, and the total time with the sweep's throughput in model-samples/s.

    pip install torch
    python3 perf/pytorch_sweep.py --threads 2
"""

import argparse
import itertools
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

import baseline


def load(data_dir, stem):
    """The array of an idx file in `data_dir` as a uint8 tensor of its shape."""
    dims, body = baseline.load(data_dir, stem)
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", default="0.01,0.03,0.1,0.3,1")
    parser.add_argument("--momentum", default="0,0.9")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--validation", type=int, default=10_000)
    parser.add_argument("--data", default="data/fashion-mnist")
    args = parser.parse_args()
    floats = lambda text: [float(v) for v in text.split(",")]

    torch.set_num_threads(args.threads)
    x = load(args.data, "train-images-idx3-ubyte").reshape(-1, 784).float() / 255
    y = load(args.data, "train-labels-idx1-ubyte").long()
    test_x = load(args.data, "t10k-images-idx3-ubyte").reshape(-1, 784).float() / 255
    test_y = load(args.data, "t10k-labels-idx1-ubyte").long()
    n = len(y) - args.validation
    train_x, train_y, val_x, val_y = x[:n], y[:n], x[n:], y[n:]

    grid = list(
        itertools.product(floats(args.lr), floats(args.momentum), [int(s) for s in args.seeds.split(",")])
    )
    print(
        f"pytorch {torch.__version__}: {len(grid)} models one after another, {n} train + "
        f"{args.validation} validation images, batch {args.batch_size}, {args.epochs} epochs, "
        f"{args.threads} threads"
    )
    results = []
    start_all = time.perf_counter()
    train_seconds = 0.0
    for lr, momentum, seed in grid:
        torch.manual_seed(seed)
        model = nn.Linear(784, 10)
        with torch.no_grad():
            model.weight.normal_(0, 0.01)
            model.bias.zero_()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        start = time.perf_counter()
        for _ in range(args.epochs):
            order = torch.randperm(n)
            for i in range(0, n, args.batch_size):
                rows = order[i : i + args.batch_size]
                loss = F.cross_entropy(model(train_x[rows]), train_y[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        train_seconds += time.perf_counter() - start
        val_acc, test_acc = accuracy(model, val_x, val_y), accuracy(model, test_x, test_y)
        results.append((val_acc, test_acc, lr, momentum, seed))
        print(f"lr {lr} momentum {momentum} seed {seed}: val acc {val_acc:.4f}, test acc {test_acc:.4f}")
    total = time.perf_counter() - start_all
    best = max(results, key=lambda r: r[0])
    print(f"best: lr {best[2]} momentum {best[3]} seed {best[4]}: val acc {best[0]:.4f}, test acc {best[1]:.4f}")
    rate = len(grid) * args.epochs * n / train_seconds
    print(
        f"trained {len(grid)} models in {train_seconds:.2f} s ({rate / 1e6:.2f} M model-samples/s, "
        f"{rate * baseline.FLOP_PER_SAMPLE / 1e9:.1f} GFLOP/s; {total:.2f} s total with evaluation)"
    )


if __name__ == "__main__":
    main()
