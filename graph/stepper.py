"""Backprop you can watch: one self-contained HTML page that steps through a graph.

:func:`to_html` turns an :class:`~graph.explain.Explanation` into a page that shows
the graph as the lecture draws it (inputs on the left, the output on the right) and
steps through, in the lecture's order:

1. the forward pass, node after node, each value appearing (green);
2. the backward pass, gate after gate from the output: the gradient arriving at the
   gate (a sum where a node feeds several gates), the local derivatives on its incoming
   edges, then what it sends down each edge, ``local × upstream = gradient`` (red);
3. forward mode for the chosen input: ∂node/∂x along the topological order (blue);
4. the sum over paths: each path from the input to the output highlighted in turn with
   the product of its local derivatives, then their sum.

Every label is in the SVG from the start with the step it appears at
(``data-from``, ``data-to``, ``data-on``); the page's small script shows those of the
steps up to the current one, so without the script (a notebook that does not run it)
the picture is the final state: every value and gradient. Buttons and the arrow keys
move; ``#step=N`` (or ``#forward``, ``#backward``, ``#forward-mode``, ``#paths``) in the
URL opens a step, so a teacher can link to one. No network, no server: CSS, SVG, script
and data are all in the file. Tensors show their shape and a few values.
"""

from __future__ import annotations

import html
import json
import secrets

import numpy as np

from gates.i18n import language, tr

from .paths import fmt

__all__ = ["to_html", "fragment", "empty"]

_X_GAP, _Y_GAP, _R, _MARGIN = 200, 150, 26, 70
#: Paths listed one step each; with more, the page gives their count, sum and stages.
_MAX_PATH_STEPS = 24


def _term(value) -> str:
    """A number inside a product or sum: negatives in parentheses, ``(-4)``."""
    text = _short(value)
    return f"({text})" if text.startswith("-") else text


def _short(value) -> str:
    """A value on a label: 4 significant digits, or shape and the first values."""
    if value is None:
        return "—"
    if np.ndim(value) == 0:
        return fmt(value)
    a = np.asarray(value, dtype=float)
    flat = a.ravel()
    head = ", ".join(fmt(v) for v in flat[:3]) + (", …" if flat.size > 3 else "")
    return f"{a.shape} [{head}]"


class _Layout:
    """Where each node goes: a column per longest distance from an input, in the rows'
    (topological) order down each column."""

    def __init__(self, rows):
        column = {}
        for r in rows:
            column[r.name] = 1 + max((column[s] for s, _ in r.incoming if s in column),
                                     default=-1)
        # a gate goes as far right as its first consumer allows: its edge out then spans
        # one column, and its labels stay clear of the nodes between
        consumers: dict = {}
        for r in rows:
            for s, _ in r.incoming:
                consumers.setdefault(s, []).append(r.name)
        for r in reversed(rows):
            if r.incoming and r.name in consumers:
                column[r.name] = max(column[r.name],
                                     min(column[c] for c in consumers[r.name]) - 1)
        per_column: dict[int, list] = {}
        for r in rows:
            per_column.setdefault(column[r.name], []).append(r.name)
        tallest = max(len(v) for v in per_column.values())
        self.xy = {}
        for c, names in per_column.items():
            top = _MARGIN + (tallest - len(names)) * _Y_GAP / 2
            for k, name in enumerate(names):
                self.xy[name] = (_MARGIN + 40 + c * _X_GAP, top + 30 + k * _Y_GAP)
        self.width = _MARGIN * 2 + 80 + max(per_column) * _X_GAP
        self.height = _MARGIN * 2 + 60 + (tallest - 1) * _Y_GAP


class _Steps:
    """The captions of the steps, and the phase each begins."""

    def __init__(self):
        self.captions: list[str] = []
        self.phases: dict[str, int] = {}

    def add(self, caption: str, phase: str | None = None) -> int:
        if phase and phase not in self.phases:
            self.phases[phase] = len(self.captions)
        self.captions.append(caption)
        return len(self.captions) - 1


def _edges(rows):
    """(key, source, target, index among the edges of that pair, local derivative)."""
    out = []
    for r in rows:
        seen: dict[str, int] = {}
        for k, (src, d) in enumerate(r.incoming):
            n = seen.get(src, 0)
            seen[src] = n + 1
            out.append((f"{src}>{r.name}>{k}", src, r.name, n, d))
    return out


def _plan(exp, steps: _Steps, marks: dict) -> None:
    """Fill ``steps`` and, per SVG element id, when it shows: ``marks[id]`` is a dict
    with ``from`` (first step), optionally ``to`` (last step) and ``on`` (steps where it
    is highlighted), and ``text`` (the label)."""
    rows = {r.name: r for r in exp.rows}
    order = [r.name for r in exp.rows]
    z = exp.output

    def mark(eid, step, text=None, **more):
        m = marks.setdefault(eid, {"from": step})
        m["from"] = min(m["from"], step)
        if text is not None:
            m["text"] = text
        for key, value in more.items():
            if key == "on":
                m.setdefault("on", []).extend(value)
            else:
                m[key] = value

    steps.add(tr("The graph of {output}: step through it with the buttons, or the arrow "
                 "keys on a page of its own.").format(output=z), "start")
    # 1. forward
    for name in order:
        r = rows[name]
        if r.value is None:
            caption = tr("{node} is not computed yet: run the graph's forward pass "
                         "first.").format(node=name)
        elif r.incoming:
            args = ", ".join(f"{s}={_short(rows[s].value)}" for s, _ in r.incoming
                             if s in rows)
            caption = tr("Forward: gate {gate} computes {node} = {value} from {args}.").format(
                gate=r.kind, node=name, value=_short(r.value), args=args)
        else:
            caption = tr("Forward: input {node} = {value}.").format(node=name,
                                                                   value=_short(r.value))
        k = steps.add(caption, "forward")
        mark(f"v:{name}", k, _short(r.value))
        mark(f"n:{name}", k, on=[k])
    # 2. backward
    out_edges: dict[str, list] = {}
    for key, src, dst, _, d in _edges(exp.rows):
        out_edges.setdefault(src, []).append((key, dst, d))
    sent: dict[str, str] = {}                      # edge key -> the gradient it carries
    scalar = exp.scalar
    for name in reversed(order):
        r = rows[name]
        if r.gradient is None:
            continue
        if name == z:
            caption = tr("Backward starts at the output: ∂{z}/∂{z} = 1.").format(z=z)
        else:
            arriving = [(dst, sent[key]) for key, dst, _ in out_edges.get(name, [])
                        if key in sent]
            parts = [value for _, value in arriving]
            total = _short(r.gradient)
            if len(parts) > 1:
                caption = tr("∂{z}/∂{node} = {sum} = {total}: {node} is used {count} times "
                             "(by {gates}), so the gradients arriving along its edges add "
                             "up.").format(
                    z=z, node=name, sum=" + ".join([parts[0]] + [_term(v) for v in parts[1:]]),
                    total=total, count=len(parts),
                    gates=", ".join(dict.fromkeys(dst for dst, _ in arriving)))
            elif not parts and name != z:
                caption = tr("∂{z}/∂{node} = {total}: no path leads from {node} to {z}, so "
                             "no gradient arrives.").format(z=z, node=name, total=total)
            else:
                caption = tr("∂{z}/∂{node} = {total}: the gradient arriving at {node}.").format(
                    z=z, node=name, total=total)
        k = steps.add(caption, "backward")
        mark(f"g:{name}", k, f"∂{z}/∂{name} = {_short(r.gradient)}")
        mark(f"n:{name}", k, on=[k])
        for key, _, _ in out_edges.get(name, []):
            if key in sent:
                mark(f"s:{key}", k, on=[k])
        if not r.incoming:
            continue
        mine = [e for e in _edges([r])]
        if scalar:
            locals_text = ", ".join(f"∂{name}/∂{src}={fmt(d)}" for _, src, _, _, d in mine
                                    if d is not None)
            k = steps.add(tr("Gate {gate} at {node}: its local derivatives, {locals}.").format(
                gate=r.kind, node=name, locals=locals_text), "backward")
            for key, src, _, _, d in mine:
                if d is not None:
                    mark(f"l:{key}", k, f"∂{name}/∂{src}={fmt(d)}", on=[k])
        lines = []
        k = steps.add("", "backward")
        for key, src, _, _, d in mine:
            if d is None or not scalar:
                continue
            value = float(d) * float(r.gradient)
            text = f"{_term(d)} × {_term(r.gradient)} = {fmt(value)}"
            sent[key] = fmt(value)
            lines.append(f"{src}: {text}")
            mark(f"s:{key}", k, text, on=[k])
        if lines:
            steps.captions[k] = tr("Gate {gate} sends back local × upstream = gradient: "
                                   "{sends}.").format(gate=r.kind, sends="; ".join(lines))
        else:
            steps.captions[k] = tr("Gate {gate} sends its gradients back to {inputs}.").format(
                gate=r.kind, inputs=", ".join(s for _, s, _, _, _ in mine))
    # 3. forward mode
    if exp.wrt:
        x = exp.wrt
        for name in order:
            r = rows[name]
            if r.forward is None:
                continue
            if r.incoming and scalar:
                terms = " + ".join(f"{_term(d)}·{_term(rows[s].forward)}"
                                   for s, d in r.incoming if s in rows and d is not None)
                caption = tr("Forward mode: ∂{node}/∂{x} = {terms} = {value}.").format(
                    node=name, x=x, terms=terms, value=_short(r.forward))
            else:
                caption = tr("Forward mode: ∂{node}/∂{x} = {value}.").format(
                    node=name, x=x, value=_short(r.forward))
            k = steps.add(caption, "forward-mode")
            mark(f"f:{name}", k, f"∂{name}/∂{x} = {_short(r.forward)}")
            mark(f"n:{name}", k, on=[k])
    # 4. sum over paths
    def edge_keys(e):
        """The key of the edge ``e`` of a path (``x * x`` has two edges x -> y: the
        gate input it is tells them apart)."""
        rank = sum(1 for i in e.target.inputs[:e.index] if i is e.source)
        spots = [i for i, (src, _) in enumerate(rows[e.target.name].incoming)
                 if src == e.source.name]
        return [f"e:{e.source.name}>{e.target.name}>{spots[min(rank, len(spots) - 1)]}"]

    for source, ps in exp.paths.items():
        listed = ps.paths or []
        if not ps.count:
            steps.add(tr("No path leads from {x} to {z}: ∂{z}/∂{x} = 0.").format(
                x=source, z=z), "paths")
            continue
        shown = listed[:_MAX_PATH_STEPS]
        for p in shown:
            names = [n.name for n in p.nodes]
            factors = " × ".join(_term(e.derivative) for e in p.edges) or "1"
            k = steps.add(tr("Path {path}: {factors} = {product}.").format(
                path=" → ".join(names), factors=factors, product=fmt(p.product)), "paths")
            for e in p.edges:
                for key in edge_keys(e):
                    mark(key, k, on=[k])
            for n in names:
                mark(f"n:{n}", k, on=[k])
        if len(shown) == ps.count:
            products = [fmt(p.product) for p in shown]
            total = " + ".join([products[0]] + [_term(v) for v in products[1:]])
            caption = (tr("Sum over the {count} paths from {x}: ∂{z}/∂{x} = {sum} = {total}.")
                       if ps.count > 1 else
                       tr("One path from {x}: ∂{z}/∂{x} = {total}.")).format(
                count=ps.count, x=source, z=z, sum=total, total=fmt(ps.total))
        elif shown:
            caption = tr("∂{z}/∂{x} is the sum over {count} paths (the first {shown} were "
                         "shown): {total}.").format(z=z, x=source, count=ps.count,
                                                    shown=len(shown), total=fmt(ps.total))
        else:
            caption = tr("∂{z}/∂{x} is the sum over {count} paths, too many to list: "
                         "{total}.").format(z=z, x=source, count=ps.count, total=fmt(ps.total))
        if ps.stages:
            caption += " " + tr("By stages: {count} paths = {counts} (through {through}).") \
                .format(count=ps.count, counts=" × ".join(str(t.count) for t in ps.stages),
                        through=", ".join(v.name for v in ps.cut_vertices))
        k = steps.add(caption, "paths")
        for p in shown:                      # every path at once, with the sum
            for e in p.edges:
                for key in edge_keys(e):
                    mark(key, k, on=[k])
        mark(f"g:{source}", k, on=[k])


def _svg(exp, layout: _Layout, marks: dict, uid: str) -> str:
    """The drawing: edges with their local-derivative and gradient labels, nodes with
    their value, gradient and forward-mode labels."""
    def attrs(eid):
        m = marks.get(eid)
        if m is None:
            return ""
        out = f' data-from="{m["from"]}"'
        if "to" in m:
            out += f' data-to="{m["to"]}"'
        if m.get("on"):
            out += f' data-on=" {" ".join(str(s) for s in m["on"])} "'
        return out

    def label(eid, x, y, cls, anchor="middle"):
        m = marks.get(eid)
        if m is None or "text" not in m:
            return ""
        return (f'<text class="{cls}" x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}"'
                f' id="{uid}-{html.escape(eid)}"{attrs(eid)}>{html.escape(m["text"])}</text>')

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="cg-svg" width="{layout.width}" '
             f'height="{layout.height}" viewBox="0 0 {layout.width} {layout.height}">',
             '<defs><marker id="' + uid + '-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" '
             'orient="auto-start-reverse">'
             '<path d="M 0 0 L 10 5 L 0 10 z" class="cg-arrowhead"/></marker></defs>']
    for key, src, dst, n, _ in _edges(exp.rows):
        if src not in layout.xy:
            continue
        (x1, y1), (x2, y2) = layout.xy[src], layout.xy[dst]
        dx, dy = x2 - x1, y2 - y1
        length = max(1.0, (dx * dx + dy * dy) ** 0.5)
        ux, uy = dx / length, dy / length
        bend = 70 * n * (1 if n % 2 else -1)      # a second edge of a pair curves away
        mx, my = (x1 + x2) / 2 - uy * bend, (y1 + y2) / 2 + ux * bend
        sx, sy, ex, ey = x1 + ux * _R, y1 + uy * _R, x2 - ux * (_R + 2), y2 - uy * (_R + 2)
        parts.append(f'<path class="cg-edge" id="{uid}-e:{html.escape(key)}"{attrs("e:" + key)}'
                     f' d="M {sx:.0f} {sy:.0f} Q {mx:.0f} {my:.0f} {ex:.0f} {ey:.0f}"'
                     f' marker-end="url(#{uid}-arrow)"/>')
        # the labels sit half a column before the target, so that an edge spanning
        # several columns keeps them clear of the nodes it passes
        span = max(1.0, abs(dx) / _X_GAP)
        t = 1 - 0.5 / span
        lx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * mx + t * t * ex
        ly = (1 - t) ** 2 * sy + 2 * (1 - t) * t * my + t * t * ey
        parts.append(label(f"l:{key}", lx, ly - 8, "cg-local"))
        parts.append(label(f"s:{key}", lx, ly + 14, "cg-grad"))
    rows = {r.name: r for r in exp.rows}
    for name, (x, y) in layout.xy.items():
        r = rows[name]
        kind = "cg-input" if not r.incoming else "cg-gate"
        out = " cg-output" if name == exp.output else ""
        parts.append(f'<g class="cg-node {kind}{out}" id="{uid}-n:{html.escape(name)}"'
                     f'{attrs("n:" + name)}><circle cx="{x}" cy="{y}" r="{_R}"/>'
                     f'<text class="cg-name" x="{x}" y="{y - 2}" text-anchor="middle">'
                     f'{html.escape(name)}</text>'
                     + (f'<text class="cg-kind" x="{x}" y="{y + 13}" text-anchor="middle">'
                        f'{html.escape(r.kind)}</text>' if r.incoming else "") + "</g>")
        parts.append(label(f"v:{name}", x, y + _R + 18, "cg-value"))
        parts.append(label(f"g:{name}", x, y - _R - 10, "cg-gradient"))
        parts.append(label(f"f:{name}", x, y + _R + 36, "cg-forward"))
    parts.append("</svg>")
    return "".join(p for p in parts if p)


_CSS = """
.cg-page{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222}
.cg-page h1{font-size:1.25em;margin:.2em 0}
.cg-scroll{overflow:auto;max-width:100%;max-height:85vh;border:1px solid #ddd;border-radius:6px}
.cg-svg{display:block;background:#fff}
.cg-svg text{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
.cg-edge{fill:none;stroke:#888;stroke-width:1.6}
.cg-edge.cg-on{stroke:#d97706;stroke-width:4}
.cg-arrowhead{fill:#888}
.cg-node circle{fill:#f5f5f5;stroke:#555;stroke-width:1.6}
.cg-input circle{fill:#e8f0fe}
.cg-output circle{stroke-width:3}
.cg-node.cg-on circle{stroke:#d97706;stroke-width:4}
.cg-name{font-weight:600;font-size:14px}
.cg-kind{font-size:11px;fill:#555}
.cg-value{fill:#15803d;font-weight:600;font-size:13px}
.cg-gradient,.cg-grad{fill:#dc2626;font-weight:600;font-size:12px}
.cg-local{fill:#444;font-size:11px}
.cg-forward{fill:#1d4ed8;font-size:12px}
text.cg-on{font-size:15px}
.cg-controls{margin:.5em 0;display:flex;gap:.3em;flex-wrap:wrap;align-items:center}
.cg-controls button{font-size:1em;padding:.25em .7em}
.cg-caption{font-size:1.1em;min-height:2.6em;margin:.4em 0;padding:.4em .6em;
  background:#fffbeb;border-left:4px solid #d97706}
.cg-counter{color:#666;margin-left:.5em}
.cg-hidden{visibility:hidden}
.cg-assign{font-family:ui-monospace,monospace;color:#333}
"""

#: The whole program of the page: show what belongs to step <= current, highlight what
#: is "on" at the current step, keep the URL's #step=N in sync.
_SCRIPT = """
(function(){
var root=document.getElementById("%(uid)s");
var data=JSON.parse(root.querySelector("script.cg-data").textContent);
var cur=0,last=data.captions.length-1;
var items=root.querySelectorAll("[data-from]");
var cap=root.querySelector(".cg-caption"),cnt=root.querySelector(".cg-counter");
function show(k){
  cur=Math.max(0,Math.min(last,k));
  for(var i=0;i<items.length;i++){
    var el=items[i],f=+el.getAttribute("data-from"),t=el.getAttribute("data-to");
    var vis=f<=cur&&(t===null||cur<=+t);
    if(el.tagName.toLowerCase()==="text"){el.classList.toggle("cg-hidden",!vis);}
    var on=(el.getAttribute("data-on")||"").indexOf(" "+cur+" ")>=0;
    el.classList.toggle("cg-on",on);
  }
  cap.textContent=data.captions[cur];
  cnt.textContent=data.stepWord+" "+cur+" / "+last;
  root.setAttribute("data-step",cur);
  if(data.standalone&&location.hash!=="#step="+cur){history.replaceState(null,"","#step="+cur);}
}
function fromHash(){
  var h=location.hash.replace("#","");
  if(/^step=\\d+$/.test(h)){return +h.split("=")[1];}
  if(Object.prototype.hasOwnProperty.call(data.phases,h)){return data.phases[h];}
  return null;
}
root.querySelectorAll("button[data-go]").forEach(function(b){
  b.addEventListener("click",function(){
    var g=b.getAttribute("data-go");
    show(g==="first"?0:g==="last"?last:g==="prev"?cur-1:g==="next"?cur+1:data.phases[g]);
  });
});
if(data.standalone){
  document.addEventListener("keydown",function(e){
    if(e.key==="ArrowRight"||e.key===" "){show(cur+1);e.preventDefault();}
    else if(e.key==="ArrowLeft"){show(cur-1);e.preventDefault();}
    else if(e.key==="Home"){show(0);}else if(e.key==="End"){show(last);}
  });
  window.addEventListener("hashchange",function(){var k=fromHash();if(k!==null){show(k);}});
}
var start=data.standalone?fromHash():null;
show(start===null?(data.standalone?0:last):start);
})();
"""


def fragment(exp, standalone: bool = False) -> str:
    """The page's body for ``exp`` (an :class:`~graph.explain.Explanation`): the
    drawing, the caption, the buttons, the data and the script, with ids of their own
    (so several fit in one notebook). Without the script it shows the final state."""
    uid = f"cg{secrets.token_hex(6)}"       # unique across kernels and saved outputs
    steps, marks = _Steps(), {}
    _plan(exp, steps, marks)
    layout = _Layout(exp.rows)
    names = {"start": tr("Start"), "forward": tr("Forward pass"),
             "backward": tr("Backward pass"), "forward-mode": tr("Forward mode"),
             "paths": tr("Sum over paths")}
    buttons = ['<button data-go="first" title="Home">«</button>',
               f'<button data-go="prev" title="←">◀ {html.escape(tr("Back"))}</button>',
               f'<button data-go="next" title="→">{html.escape(tr("Next"))} ▶</button>',
               '<button data-go="last" title="End">»</button>']
    buttons += [f'<button data-go="{p}">{html.escape(names[p])}</button>'
                for p in steps.phases if p != "start"]
    data = {"captions": steps.captions, "phases": steps.phases, "standalone": standalone,
            "stepWord": tr("step")}
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    assignments = "".join(f'<div class="cg-assign">{html.escape(a)}</div>'
                          for a in exp.assignments)
    if len(exp.assignments) > 8:
        assignments = (f"<details><summary>{html.escape(tr('Simple assignments'))} "
                       f"({len(exp.assignments)})</summary>{assignments}</details>")
    note = f'<p>{html.escape(exp.note)}</p>' if exp.note else ""
    return (f'<div class="cg-page" id="{uid}" data-step="{len(steps.captions) - 1}">'
            f'<style>{_CSS}</style>{assignments}'
            f'<div class="cg-controls">{"".join(buttons)}<span class="cg-counter"></span></div>'
            f'<div class="cg-caption">{html.escape(steps.captions[-1])}</div>'
            f'<div class="cg-scroll">{_svg(exp, layout, marks, uid)}</div>{note}'
            f'<script type="application/json" class="cg-data">{payload}</script>'
            f'<script>{_SCRIPT % {"uid": uid}}</script></div>')


def to_html(exp, title: str | None = None) -> str:
    """A whole HTML page stepping through ``exp`` (see the module docstring)."""
    title = title or tr("Backprop, step by step: {output}").format(output=exp.output)
    return (f"<!DOCTYPE html>\n<html lang=\"{language()}\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"</head><body><h1 class=\"cg-page\">{html.escape(title)}</h1>"
            f"{fragment(exp, standalone=True)}</body></html>\n")


def empty() -> str:
    """What a notebook shows for a graph without nodes."""
    return "<div class=\"cg-page\"><em>" + html.escape(tr("An empty graph.")) + "</em></div>"
