"""Gate files written the way students write them (by hand, not from the reference),
shared by the tests of honest submissions: correct ones, and the typical mistakes."""

import json

HELPERS = '''
import numpy as np


def unbroadcast(grad, shape):
    """Sum grad back to shape: over the leading axes broadcasting added, and over the
    axes where shape has 1."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad
'''

GATES = '''
class AddGate:
    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        return x + y

    def backward(self, dz):
        return unbroadcast(dz, self.x_shape), unbroadcast(dz, self.y_shape)


class MultiplyGate:
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dz):
        dx = unbroadcast(dz * self.y, np.shape(self.x))
        dy = unbroadcast(dz * self.x, np.shape(self.y))
        return dx, dy


class ReLUGate:
    def forward(self, x):
        out = x.copy()              # the CS231n way: a copy, then a mask
        out[out < 0] = 0
        self.mask = x > 0
        return out

    def backward(self, dz):
        dx = dz.copy()
        dx[~self.mask] = 0
        return (dx,)


class SigmoidGate:
    def forward(self, x):
        self.z = 1 / (1 + np.exp(-x))
        return self.z

    def backward(self, dz):
        return (dz * self.z * (1 - self.z),)


class CosGate:
    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, dz):
        return (-np.sin(self.x) * dz,)
'''

HONEST = HELPERS + GATES
NAMES = ["AddGate", "MultiplyGate", "ReLUGate", "SigmoidGate", "CosGate"]


def notebook(cells) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True),
         **({"outputs": [], "execution_count": None} if kind == "code" else {})}
        for kind, text in cells]}).encode("utf-8")


COLAB = [("markdown", "# Bài tập 1: các cổng\nViết forward và backward."),
         ("code", "!pip install numpy\n%matplotlib inline\n" + HELPERS),
         ("code", "%%time\ntotal = sum(range(10))\n"),
         ("code", GATES),
         ("code", "g = MultiplyGate()\nprint(g.forward(3.0, -4.0))\nnp.sum?\n")]


#: Typical mistakes, each breaking one check of one gate, as (old, new) edits of HONEST.
MISTAKES = {
    "mutated cache": [("""        self.z = 1 / (1 + np.exp(-x))
        return self.z""", """        self.z = 1 / (1 + np.exp(-x))
        self.dzdx = self.z * (1 - self.z)
        return self.z"""), ("""        return (dz * self.z * (1 - self.z),)""",
                            """        self.dzdx *= dz              # the cache changes on every call
        return (self.dzdx,)""")],
    "no unbroadcast": [("return unbroadcast(dz, self.x_shape), unbroadcast(dz, self.y_shape)",
                        "return dz, dz")],
    "misnamed": [("class CosGate", "class CosineGate")],
    "torch for cos": [("        return (-np.sin(self.x) * dz,)", """        t = torch.tensor(self.x, requires_grad=True)
        torch.cos(t).backward(torch.tensor(dz))
        return (t.grad.numpy(),)""")],
}


def with_mistakes(*kinds: str) -> str:
    """HONEST with the MISTAKES named."""
    text = HONEST
    for kind in kinds:
        for old, new in MISTAKES[kind]:
            assert old in text, (kind, old)
            text = text.replace(old, new)
    return text


MUTATED_CACHE = with_mistakes("mutated cache")
NO_UNBROADCAST = with_mistakes("no unbroadcast")
MISNAMED = with_mistakes("misnamed")
TORCH_FOR_COS = with_mistakes("torch for cos")
