"""Benchmark of the Graph's own cost (a script, not a test).

1. The MNIST network with two hidden layers (784-256-128-10, batch 128, float32,
   softmax + cross-entropy; issue 3's "3-layer network", ``train --layers 4``; another
   with ``--sizes``, e.g. ``--sizes 784,256,10``, the lecture's 3-layer net):
   forward + backward through the Graph, next to the same computation written by hand
   with numpy (the same parameter gradients; neither computes dL/dx of the data: the
   graph skips it because x is an input with differentiable=False). Timings are
   interleaved in one run and the best of the repeats is kept; the ratio
   numpy_time / graph_time is 1.0 when the graph costs nothing on top of numpy.
2. A long scalar chain x <- tanh(x * w + b) (0-d float64, w and b shared parameters):
   forward + backward time per gate node (each of multiply, add, tanh is one node;
   the input and the two parameters are not counted), next to the same gates called
   in a plain Python loop without the graph.

Run with the BLAS settings of a user's machine:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python experiments/bench_graph.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graph
from gates import AddGate, MultiplyGate, TanhGate


def mlp_graph(rng, sizes=(784, 256, 128, 10)):
    """The net of ``sizes`` with its softmax-CE loss; returns (graph, loss node)."""
    g = graph.Graph()
    x = g.input("x", differentiable=False)
    y = g.input("y", differentiable=False)
    loss = graph.softmax_cross_entropy(graph.mlp(g, x, sizes, rng=rng), y, name="loss")
    return g, loss


def numpy_step(X, Y, p):
    """Forward + backward of the same net by hand: the loss and dL/dparams.

    z_i = h_{i-1} W_i + b_i, h_i = relu(z_i) (h_0 = X, no relu after the last layer);
    L = mean cross-entropy of softmax(z_last); backward: dz_last = (p - y) / n,
    dW_i = h_{i-1}^T dz_i, db_i = sum of dz_i over the batch,
    dz_{i-1} = (dz_i W_i^T) * (z_{i-1} > 0)."""
    Ws, bs = p[0::2], p[1::2]
    hs, zs = [X], []
    for i, (W, b) in enumerate(zip(Ws, bs)):
        zs.append(hs[-1] @ W + b)
        if i < len(Ws) - 1:
            hs.append(np.maximum(zs[-1], 0))
    n = X.shape[0]
    rows = np.arange(n)
    shifted = zs[-1] - zs[-1].max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1)
    loss = -(shifted[rows, Y] - np.log(total)).mean()
    dz = e / total[:, None]
    dz[rows, Y] -= 1
    dz /= n
    grads = []
    for i in reversed(range(len(Ws))):
        grads[:0] = [hs[i].T @ dz, dz.sum(axis=0)]
        if i:
            dz = (dz @ Ws[i].T) * (zs[i - 1] > 0)
    return loss, tuple(grads)


def bench_mlp(repeats: int, inner: int, batch: int = 128, sizes=(784, 256, 128, 10)):
    """Best seconds per forward+backward step: (graph, plain numpy), same numbers checked."""
    rng = np.random.default_rng(0)
    g, loss = mlp_graph(rng, sizes)
    params = [np.asarray(p.value) for p in g.params.values()]
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    Y = rng.integers(0, sizes[-1], size=batch)

    # the same numbers first: the comparison is of equal work
    value = g.forward(x=X, y=Y)
    g.backward(loss)
    ref_loss, ref_grads = numpy_step(X, Y, params)
    assert np.isclose(value, ref_loss, rtol=1e-5), (value, ref_loss)
    for node, ref in zip(g.params.values(), ref_grads):
        np.testing.assert_allclose(node.grad, ref, rtol=1e-4, atol=1e-6)

    def run_graph():
        for _ in range(inner):
            g.forward(x=X, y=Y)     # a fed array always counts as new data
            g.backward(loss)

    def run_numpy():
        for _ in range(inner):
            numpy_step(X, Y, params)

    best = {run_graph: float("inf"), run_numpy: float("inf")}
    for r in range(repeats):
        # alternate which goes first, so neither always runs on a warmer cache
        for run in (run_graph, run_numpy) if r % 2 == 0 else (run_numpy, run_graph):
            t0 = time.perf_counter()
            run()
            best[run] = min(best[run], (time.perf_counter() - t0) / inner)
    return best[run_graph], best[run_numpy]


def chain_graph(steps: int):
    """x <- tanh(x * w + b) repeated ``steps`` times (3 gate nodes a step)."""
    g = graph.Graph()
    x = g.input("x")
    w, b = g.param("w", 0.9), g.param("b", 0.1)
    h = x
    for _ in range(steps):
        h = graph.tanh(h * w + b)
    return g, h


def bench_chain(repeats: int, gate_nodes: int = 10_000):
    """(gate nodes, best graph seconds, best plain-loop seconds) for one fwd+bwd."""
    steps = gate_nodes // 3
    count = 3 * steps
    g, out = chain_graph(steps)
    def feed(i):
        return 0.3 + 1e-3 * i           # a new value each run: every node recomputes

    def run_graph(i):
        g.forward(x=feed(i))
        g.backward(out)

    # the same gates without a graph: a plain loop forward, then backward in reverse
    w, b = np.float64(0.9), np.float64(0.1)   # as the graph stores 0-d parameters
    chain = [(MultiplyGate(), AddGate(), TanhGate()) for _ in range(steps)]

    def run_gates(i):
        h = np.float64(feed(i))
        for mul, add, tanh in chain:
            h = tanh.forward(add.forward(mul.forward(h, w), b))
        dh = np.float64(1.0)
        dw = db = np.float64(0.0)
        for mul, add, tanh in reversed(chain):
            (da,) = tanh.backward(dh)
            dm, gb = add.backward(da)
            dh, gw = mul.backward(dm)
            dw = dw + gw
            db = db + gb
        return dw, db

    run_graph(0)
    assert np.isclose(g.params["w"].grad, run_gates(0)[0])
    best_graph = best_gates = float("inf")
    for i in range(1, repeats + 1):
        t0 = time.perf_counter()
        run_graph(i)
        t1 = time.perf_counter()
        run_gates(i)
        t2 = time.perf_counter()
        best_graph = min(best_graph, t1 - t0)
        best_gates = min(best_gates, t2 - t1)
    return count, best_graph, best_gates


def main(argv=None) -> int:
    """Run both benchmarks and print the times, the ratio and the per-node cost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=40, help="timed repeats (best kept)")
    parser.add_argument("--inner", type=int, default=5, help="MLP steps per repeat")
    parser.add_argument("--sizes", default="784,256,128,10",
                        help="the MLP's layer sizes (default 784,256,128,10: two hidden "
                             "layers, as train --layers 4; 784,256,10 for one)")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))

    t_graph, t_numpy = bench_mlp(args.repeats, args.inner, sizes=sizes)
    print(f"MLP {'-'.join(map(str, sizes))} ({len(sizes) - 2} hidden layer(s)), batch 128, "
          f"float32, softmax-CE, forward+backward")
    print(f"  graph      {t_graph * 1e3:8.3f} ms/step")
    print(f"  numpy      {t_numpy * 1e3:8.3f} ms/step")
    print(f"  ratio numpy/graph = {t_numpy / t_graph:.3f}   (target >= 0.9)")

    count, c_graph, c_gates = bench_chain(max(args.repeats // 2, 1))
    print(f"scalar chain x = tanh(x*w + b): {count} gate nodes "
          f"({count // 3} steps x 3 gates), forward+backward")
    print(f"  graph      {c_graph * 1e6 / count:8.3f} us/node   (target <= 3)")
    print(f"  gates only {c_gates * 1e6 / count:8.3f} us/node   (no graph: plain loop)")
    print(f"  graph's own overhead {(c_graph - c_gates) * 1e6 / count:.3f} us/node")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
