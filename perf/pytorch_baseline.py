#!/usr/bin/env python3
"""The tutorial's softmax regression in PyTorch, for comparison with softreg.

Same algorithm and hyperparameters as `softreg train`: W ~ N(0, 0.01) 784x10,
b = 0, lr 0.1, batch 256, 5 epochs, reshuffled each epoch, mean cross-entropy,
plain SGD. The data set is read once from the bundled idx files into tensors
(no DataLoader), so the timing is of the training arithmetic, not of Python
image decoding. Prints the same epoch lines as softreg.

    pip install torch
    python3 perf/pytorch_baseline.py --threads 2
"""

import time

import torch
import torch.nn.functional as F

import baseline


def load(data_dir, stem):
    """The array of an idx file in `data_dir` as a uint8 tensor of its shape."""
    dims, body = baseline.load(data_dir, stem)
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def main():
    args = baseline.arguments(__doc__.splitlines()[0])

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x = load(args.data, "train-images-idx3-ubyte").reshape(-1, 784).float() / 255
    train_y = load(args.data, "train-labels-idx1-ubyte").long()
    test_x = load(args.data, "t10k-images-idx3-ubyte").reshape(-1, 784).float() / 255
    test_y = load(args.data, "t10k-labels-idx1-ubyte").long()
    n = len(train_y)
    print(
        f"pytorch {torch.__version__}: {n} train / {len(test_y)} test images, "
        f"batch {args.batch_size}, lr {args.lr}, {args.threads} threads"
    )

    w = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    start_all = time.perf_counter()
    train_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n)
        loss_sum, correct = 0.0, 0
        start = time.perf_counter()
        for i in range(0, n, args.batch_size):
            rows = order[i : i + args.batch_size]
            x, y = train_x[rows], train_y[rows]
            logits = x @ w + b
            loss = F.cross_entropy(logits, y)
            loss.backward()
            with torch.no_grad():
                w -= args.lr * w.grad
                b -= args.lr * b.grad
                w.grad.zero_()
                b.grad.zero_()
            loss_sum += loss.item() * len(rows)
            correct += (logits.argmax(dim=1) == y).sum().item()
        seconds = time.perf_counter() - start
        train_seconds += seconds
        with torch.no_grad():
            test_acc = ((test_x @ w + b).argmax(dim=1) == test_y).float().mean().item()
        baseline.print_epoch(epoch, n, loss_sum, correct, test_acc, seconds)
    baseline.print_summary(args.epochs, train_seconds, time.perf_counter() - start_all)


if __name__ == "__main__":
    main()
