"""What the Python baselines share: the idx reader, the command line, and the
epoch lines they print in softreg's format."""

import argparse
import gzip
import os
import struct

FLOP_PER_SAMPLE = 4 * 784 * 10


def read_idx(path):
    """The dimensions and the raw bytes of an unsigned-byte idx file (raw or .gz)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(f">{rank}I", data[4 : 4 + 4 * rank])
    return dims, data[4 + 4 * rank :]


def load(data_dir, stem):
    """`read_idx` of `stem` in `data_dir`, raw or gzipped."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return read_idx(path)
    raise SystemExit(f"{os.path.join(data_dir, stem)}: not found (nor its .gz)")


def arguments(description):
    """The baselines' flags, with softreg's defaults (the tutorial's settings)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data/fashion-mnist")
    return parser.parse_args()


def print_epoch(epoch, n, loss_sum, correct, test_acc, seconds):
    """One epoch's line, as softreg prints it."""
    rate = n / seconds
    print(
        f"epoch {epoch}, loss {loss_sum / n:.4f}, train acc {correct / n:.3f}, "
        f"test acc {test_acc:.3f}  ({seconds * 1e3:.1f} ms, {rate / 1e6:.2f} M samples/s, "
        f"{rate * FLOP_PER_SAMPLE / 1e9:.1f} GFLOP/s)"
    )


def print_summary(epochs, train_seconds, total_seconds):
    """The closing line: training time, and time with evaluation."""
    print(
        f"trained {epochs} epochs in {train_seconds:.2f} s "
        f"({total_seconds:.2f} s with evaluation)"
    )
