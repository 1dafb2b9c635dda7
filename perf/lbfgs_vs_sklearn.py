#!/usr/bin/env python3
"""softreg's L-BFGS fit against scikit-learn's LogisticRegression on the same data.

Both minimise mean cross-entropy + (1 / (2 C n)) ||W||^2 (bias unpenalised) on
the training images (pixels / 255). Every objective below is computed here, in
float64 NumPy, from the weights each program produced, so neither program's
own arithmetic is trusted.

    pip install numpy scikit-learn
    cargo build --release
    python3 perf/lbfgs_vs_sklearn.py optimum --C 0.01 0.1 1
        softreg --tol 1e-8 against scikit-learn run to convergence (tol 1e-10,
        float64): the relative objective gap and the test accuracies.
    python3 perf/lbfgs_vs_sklearn.py path --C 0.01 0.1 1
        the same, for softreg's sweep along the path (each strength from near
        the previous optimum), on all but the last training image (a sweep
        holds one out at least), as scikit-learn is: the sweep's objectives are its own (the kernel's
        f32 products summed in f64), shown beside the f64 objective of the
        weights a `train` fit saved and that fit's own objective, to show how
        far the two can differ.
    python3 perf/lbfgs_vs_sklearn.py speed --threads 2
        scikit-learn's default fit (C 1, max_iter 100, float32 as a user passes
        it), then the time softreg takes to reach the objective that fit
        reached, on the same threads.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

import baseline

SOFTREG = os.environ.get("SOFTREG", os.path.join(os.path.dirname(__file__), "..", "target", "release", "softreg"))


def load(data_dir, stem):
    dims, body = baseline.load(data_dir, stem)
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def dataset(data_dir):
    x = load(data_dir, "train-images-idx3-ubyte").reshape(60000, -1) / 255.0
    y = load(data_dir, "train-labels-idx1-ubyte").astype(np.int64)
    tx = load(data_dir, "t10k-images-idx3-ubyte").reshape(10000, -1) / 255.0
    ty = load(data_dir, "t10k-labels-idx1-ubyte").astype(np.int64)
    return x, y, tx, ty


def objective(w, b, x, y, c):
    """Mean cross-entropy + ||W||^2 / (2 C n), in float64."""
    w, b = w.astype(np.float64), b.astype(np.float64)
    z = x @ w.T + b
    z -= z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    loss = np.mean(lse - z[np.arange(len(y)), y])
    return loss + (w * w).sum() / (2 * c * len(y))


def accuracy(w, b, x, y):
    return float(np.mean(np.argmax(x @ w.T + b, axis=1) == y))


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + start : 8 + n + end], dtype=np.float32).reshape(meta["shape"])
    return out


def softreg_fit(data_dir, c, tol, max_iter, threads, precondition):
    """Runs softreg; returns (weight, bias, per-iteration JSON lines, summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.safetensors")
        cmd = [SOFTREG, "train", "--optimizer", "lbfgs", "--C", str(c), "--tol", str(tol),
               "--max-iter", str(max_iter), "--threads", str(threads), "--data", data_dir,
               "--precondition", precondition,
               "--json", "--save", model]
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        tensors = read_safetensors(model)
    iterations = [line for line in lines if line["type"] == "iteration"]
    return tensors["weight"], tensors["bias"], iterations, lines[-1]


def optimum(args):
    from sklearn.linear_model import LogisticRegression

    x, y, tx, ty = dataset(args.data)
    print(f"| C | scikit-learn (tol 1e-10) objective | iterations | test acc | softreg (--tol 1e-8) objective | "
          f"relative gap | test acc | stop |")
    print("|---|---|---|---|---|---|---|---|")
    for c in args.C:
        start = time.perf_counter()
        sk = LogisticRegression(C=c, tol=1e-10, max_iter=args.max_iter).fit(x, y)
        sk_seconds = time.perf_counter() - start
        f_sk = objective(sk.coef_, sk.intercept_, x, y, c)
        w, b, _, summary = softreg_fit(args.data, c, 1e-8, args.max_iter, args.threads, args.precondition)
        f_sr = objective(w, b, x, y, c)
        gap = (f_sr - f_sk) / abs(f_sk)
        stop = summary["models"][0]["stop"]
        print(f"| {c} | {f_sk:.12f} | {sk.n_iter_[0]} ({sk_seconds:.1f} s) | {accuracy(sk.coef_, sk.intercept_, tx, ty):.4f} | "
              f"{f_sr:.12f} | {gap:.2e} | {accuracy(w, b, tx, ty):.4f} | {stop}, "
              f"{summary['models'][0]['iterations']} iterations ({summary['seconds']:.1f} s) |", flush=True)


def path(args):
    from sklearn.linear_model import LogisticRegression

    x, y, tx, ty = dataset(args.data)
    # A sweep holds rows out to rank its models: one, the last, and
    # scikit-learn fits the same 59,999.
    cmd = [SOFTREG, "sweep", "--optimizer", "lbfgs", "--validation", "1", "--C", ",".join(str(c) for c in args.C),
           "--tol", "1e-8", "--max-iter", str(args.max_iter), "--threads", str(args.threads),
           "--data", args.data, "--precondition", args.precondition, "--json"]
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    sweep_seconds = time.perf_counter() - start
    summary = json.loads(run.stdout.splitlines()[-1])
    print(f"softreg sweep along the path, --tol 1e-8: {summary['passes']} passes, {sweep_seconds:.1f} s")
    print("| C | scikit-learn (tol 1e-10) objective | test acc | sweep objective | relative gap | test acc | "
          "iterations | from | train fit: f64 objective of its weights - its own |")
    print("|---|---|---|---|---|---|---|---|---|")
    fitted_x, fitted_y = x[:-1], y[:-1]
    for c, model in zip(args.C, summary["models"]):
        sk = LogisticRegression(C=c, tol=1e-10, max_iter=args.max_iter).fit(fitted_x, fitted_y)
        f_sk = objective(sk.coef_, sk.intercept_, fitted_x, fitted_y, c)
        w, b, _, fit = softreg_fit(args.data, c, 1e-8, args.max_iter, args.threads, args.precondition)
        own = fit["models"][0]["objective"]
        gap = (model["objective"] - f_sk) / abs(f_sk)
        print(f"| {c} | {f_sk:.12f} | {accuracy(sk.coef_, sk.intercept_, tx, ty):.4f} | "
              f"{model['objective']:.12f} | {gap:.2e} | {model['test_acc']:.4f} | {model['iterations']} | "
              f"{model['from'] or 'zero'} | {objective(w, b, x, y, c) - own:.1e} |", flush=True)


def speed(args):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x, y, tx, ty = dataset(args.data)
    x32 = x.astype(np.float32)
    with threadpool_limits(limits=args.threads):
        start = time.perf_counter()
        sk = LogisticRegression().fit(x32, y)
        sk_seconds = time.perf_counter() - start
    f_sk = objective(sk.coef_, sk.intercept_, x, y, 1.0)
    print(f"scikit-learn LogisticRegression() on float32, {args.threads} threads: {sk_seconds:.2f} s, "
          f"{sk.n_iter_[0]} iterations, objective {f_sk:.10f}, test acc {accuracy(sk.coef_, sk.intercept_, tx, ty):.4f}")
    start = time.perf_counter()
    w, b, lines, summary = softreg_fit(args.data, 1.0, 1e-4, 1000, args.threads, args.precondition)
    wall = time.perf_counter() - start
    reached = next((l for l in lines if l["objective"] <= f_sk), None)
    if reached is None:
        print("softreg did not reach that objective within 1,000 iterations")
        sys.exit(1)
    print(f"softreg reached objective {reached['objective']:.10f} at iteration {reached['iteration']} after "
          f"{reached['seconds']:.3f} s of fitting ({wall:.2f} s for the whole process to the end of its fit); "
          f"{sk_seconds / reached['seconds']:.1f}x sooner than scikit-learn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["optimum", "path", "speed"])
    parser.add_argument("--C", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--data", default="data/fashion-mnist")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--precondition", choices=["auto", "gram", "none"], default="auto",
                        help="softreg's --precondition")
    args = parser.parse_args()
    {"optimum": optimum, "path": path, "speed": speed}[args.mode](args)


if __name__ == "__main__":
    main()
