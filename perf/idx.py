"""Reading the bundled idx files (raw or .gz) for the Python baselines."""

import gzip
import os
import struct


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
