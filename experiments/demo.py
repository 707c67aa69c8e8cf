"""``compgraph demo``: the lecture's first gates, run and printed.

The multiply gate from the slide (forward 3 x -4 = -12, backward of 2 gives -8 and 6),
the add, max and scale gates that make up a = 2 (x y + max(z, w)), and the same
numbers again in forward mode.
"""

from __future__ import annotations

from gates import AddGate, MaxGate, MultiplyGate, ScaleGate


def configure(parser, command):
    parser.set_defaults(command=command)


def run(args=None) -> int:
    mul = MultiplyGate()
    print("MultiplyGate: z = x * y, dz/dx = y, dz/dy = x")
    print(f"  forward(3, -4)  = {mul.forward(3, -4):g}")
    dx, dy = mul.backward(2)
    print(f"  backward(2)     = ({dx:g}, {dy:g})   the multiply gate switches its inputs")

    print("\na = 2 * (x*y + max(z, w)) at x=3, y=-4, z=2, w=-1, gate by gate")
    add, mx, scale = AddGate(), MaxGate(), ScaleGate(2)
    xy = mul.forward(3, -4)
    m = mx.forward(2, -1)
    s = add.forward(xy, m)
    a = scale.forward(s)
    print(f"  x*y = {xy:g}, max(z, w) = {m:g}, sum = {s:g}, a = {a:g}")
    (ds,) = scale.backward(1.0)
    dxy, dm = add.backward(ds)
    dz, dw = mx.backward(dm)
    dx, dy = mul.backward(dxy)
    print(f"  scale amplifies:     da/d(sum) = {ds:g}")
    print(f"  add distributes:     {dxy:g} to x*y and {dm:g} to max(z, w)")
    print(f"  max routes:          dz = {dz:g}, dw = {dw:g}")
    print(f"  multiply switches:   dx = {dx:g}, dy = {dy:g}")

    print("\nForward mode: push a tangent dx = 1 through the same gates")
    t = scale.jvp(add.jvp(mul.jvp(1.0, None), mx.jvp(None, None)))
    print(f"  da/dx = {t:g} (reverse mode said {dx:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
