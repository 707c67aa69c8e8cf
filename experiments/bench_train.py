"""Training throughput: the Graph beside the same network written by hand in numpy.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m experiments.bench_train

For each architecture (2 layers 784-10, 3 layers 784-256-10, 4 layers 784-256-128-10)
it times training steps (forward, backward, optimizer update) of

- ``graph``: the network built from gates in a :class:`graph.Graph`, updated by
  :mod:`graph.optim`;
- ``numpy``: the same network, same init, same optimizer, written by hand in plain
  numpy (the fastest a person would reasonably write: in-place updates, no checks);
- ``torch``: PyTorch on the CPU with the same threads, batch and dtype, if installed.

All start from the same weights, and their losses on the first steps must agree (they
compute the same thing). They are timed in the same run, interleaved round by round
(alternating the order), and the best round of each is kept (the machine is shared). Data is random float32 pixels in
[0, 1) with random labels: speed does not depend on what the pixels show. It prints
images per second and the ratio graph / numpy (the target is >= 0.9 for 3 and 4
layers). A script, never a timed test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from graph.init import he
from graph.optim import Adam, SGD

from .networks import build_network

ARCHITECTURES = {2: (784, 10), 3: (784, 256, 10), 4: (784, 256, 128, 10)}


class NumpyMLP:
    """The lecture's network by hand: affine layers with relu between, softmax
    cross-entropy, and the same update rule as :mod:`graph.optim` (SGD or Adam),
    written the way a person would in plain numpy (in-place updates)."""

    def __init__(self, sizes, rng, optimizer="sgd", lr=0.1, dtype=np.float32):
        self.W = [he(a, b, rng, dtype) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b, dtype) for b in sizes[1:]]
        self.params = self.W + self.b
        self.optimizer, self.lr, self.t = optimizer, lr, 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def step(self, x, y):
        """One training step on the batch (x (B, 784) float32, y (B,) ints); returns the loss."""
        hs = [x]
        last = len(self.W) - 1
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = hs[-1] @ W + b
            hs.append(np.maximum(z, 0) if i < last else z)
        z = hs[-1]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1)
        rows = np.arange(len(y))
        loss = float(np.mean(np.log(s) - z[rows, y]))
        g = e / s[:, None]
        g[rows, y] -= 1
        g /= len(y)
        grads_W, grads_b = [None] * len(self.W), [None] * len(self.W)
        for i in range(last, -1, -1):
            grads_W[i] = hs[i].T @ g
            grads_b[i] = g.sum(axis=0)
            if i:
                g = (g @ self.W[i].T) * (hs[i] > 0)
        self._update(grads_W + grads_b)
        return loss

    def _update(self, grads):
        lr = np.float32(self.lr)
        if self.optimizer == "sgd":
            for p, g in zip(self.params, grads):
                p -= lr * g
            return
        self.t += 1
        b1, b2 = 0.9, 0.999
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= np.float32(b1)
            m += np.float32(1 - b1) * g
            v *= np.float32(b2)
            v += np.float32(1 - b2) * (g * g)
            p -= np.float32(lr / c1) * m / (np.sqrt(v) * np.float32(1 / np.sqrt(c2))
                                             + np.float32(1e-8))


class GraphMLP:
    """The same network as gates in a Graph, the one ``compgraph train`` trains
    (:func:`~experiments.networks.build_network`), updated by graph.optim."""

    def __init__(self, sizes, rng, optimizer="sgd", lr=0.1, dtype=np.float32):
        net = build_network(sizes, rng, dtype)
        self.g, self.loss = net.g, net.loss
        self.opt = (SGD if optimizer == "sgd" else Adam)(self.g.params, lr=lr)

    def step(self, x, y):
        """One training step through the graph (forward, backward, update); the loss."""
        loss = self.g.forward(x=x, y=y, outputs=self.loss)
        self.g.backward(self.loss)
        self.opt.step()
        return float(loss)


class TorchMLP:
    """The same network in PyTorch (nn.Linear, ReLU, CrossEntropyLoss, the same optimizer)."""

    def __init__(self, sizes, rng, optimizer="sgd", lr=0.1, dtype=np.float32):
        import torch
        self.torch = torch
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = torch.nn.Linear(a, b)
            with torch.no_grad():   # the same init as the others: He normal, zero bias
                lin.weight.copy_(torch.from_numpy(he(a, b, rng, dtype).T.copy()))
                lin.bias.zero_()
            layers.append(lin)
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.lossf = torch.nn.CrossEntropyLoss()
        cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
        self.opt = cls(self.net.parameters(), lr=lr)

    def step(self, x, y):
        """One training step in PyTorch; the loss."""
        self.opt.zero_grad(set_to_none=True)
        loss = self.lossf(self.net(self.torch.from_numpy(x)), self.torch.from_numpy(y))
        loss.backward()
        self.opt.step()
        return loss.item()


def _torch_available():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def bench(layers, batch, steps, rounds, optimizer, threads, use_torch, seed=0):
    """Best images/s of each implementation for one architecture: a dict name -> float."""
    sizes = ARCHITECTURES[layers]
    rng = np.random.default_rng(seed)
    n = batch * steps
    x = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=n).astype(np.int64)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]
    lr = 0.01 if optimizer == "sgd" else 1e-3
    impls = {"graph": GraphMLP(sizes, np.random.default_rng(seed), optimizer, lr),
             "numpy": NumpyMLP(sizes, np.random.default_rng(seed), optimizer, lr)}
    if use_torch:
        import torch
        torch.set_num_threads(threads)
        impls["torch"] = TorchMLP(sizes, np.random.default_rng(seed), optimizer, lr)
    # the same network, the same work: equal losses on the first steps (same init, same
    # updates), and the steps double as a warm-up (allocations, BLAS threads)
    for xb, yb in batches[:5]:
        losses = {name: impl.step(xb, yb) for name, impl in impls.items()}
        if not np.allclose(list(losses.values()), losses["numpy"], rtol=1e-4):
            raise AssertionError(f"the implementations disagree: losses {losses}")
    best = dict.fromkeys(impls, 0.0)
    for r in range(rounds):
        # alternate the order, so no implementation always runs on a warmer cache
        for name, impl in list(impls.items())[::1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            for xb, yb in batches:
                impl.step(xb, yb)
            best[name] = max(best[name], n / (time.perf_counter() - start))
    return best


def main(argv=None) -> int:
    """Parse the options, time each architecture and print the table; exit status 0."""
    parser = argparse.ArgumentParser(prog="python -m experiments.bench_train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 3, 4], choices=[2, 3, 4])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=20, help="rounds; the best is kept")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="PyTorch threads (default: the CPU count, as OpenBLAS uses)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    args = parser.parse_args(argv)
    use_torch = not args.no_torch and _torch_available()
    if not use_torch and not args.no_torch:
        print("note: PyTorch is not installed; comparing the Graph with numpy only",
              file=sys.stderr)
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                      "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
           if k in os.environ}
    print(f"batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds (best), "
          f"float32, {args.optimizer}, numpy {np.__version__}"
          + (f", torch threads {args.threads}" if use_torch else "")
          + (f", env {env}" if env else ""))
    header = f"{'layers':<7}{'sizes':<18}{'graph img/s':>13}{'numpy img/s':>13}{'graph/numpy':>13}"
    if use_torch:
        header += f"{'torch img/s':>13}"
    print(header)
    for layers in args.layers:
        best = bench(layers, args.batch_size, args.steps, args.rounds, args.optimizer,
                     args.threads, use_torch)
        sizes = "-".join(map(str, ARCHITECTURES[layers]))
        row = (f"{layers:<7}{sizes:<18}{best['graph']:>13,.0f}{best['numpy']:>13,.0f}"
               f"{best['graph'] / best['numpy']:>13.3f}")
        if use_torch:
            row += f"{best['torch']:>13,.0f}"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
