"""The step-through page: the lecture's passes, one step at a time, in a real browser.

The page's steps are checked as data first (the captions and when each label shows),
then rendered in headless Chromium at chosen steps (``#step=N`` in the URL) and read
back as the DOM a student sees. Where no Chromium is installed the browser tests are
skipped with that reason; CI installs Debian's ``chromium``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from experiments.cli import main as cli_main
from gates import AddGate, MatVecGate, SumGate
from gates.i18n import set_language
from graph import Graph

LECTURE = ("e = (a+b)*(b+1)", dict(a=2, b=1), "b")
PATTERNS = ("a = 2*(x*y + max(z, w))", dict(x=3, y=-4, z=2, w=-1), "x")
NEURON = ("f = sigmoid(w0 + w1*x1 + w2*x2)", dict(w0=-3, w1=2, w2=-3, x1=-1, x2=-2), "w1")


def page(example) -> str:
    source, values, wrt = example
    g = Graph.from_expression(source)
    g.forward(**values)
    return g.to_html(source.split("=")[0].strip(), wrt=wrt)


def data_of(text: str) -> dict:
    raw = re.search(r'<script type="application/json" class="cg-data">(.*?)</script>',
                    text, re.S).group(1)
    return json.loads(raw)


def label_step(text: str, element: str) -> int:
    """The step from which the label ``element`` (e.g. ``v:e``) shows."""
    m = re.search(rf'id="cg[0-9a-f]+-{re.escape(element)}"[^>]*data-from="(\d+)"', text)
    assert m, element
    return int(m.group(1))


def test_the_lecture_example_steps_forward_then_backward_with_the_lectures_numbers():
    text = page(LECTURE)
    captions = data_of(text)["captions"]
    forward = [c for c in captions if c.startswith("Forward:")]
    assert forward == ["Forward: input a = 2.", "Forward: input b = 1.",
                       "Forward: gate + computes c = 3 from a=2, b=1.",
                       "Forward: gate + computes d = 2 from b=1.",
                       "Forward: gate × computes e = 6 from c=3, d=2."]
    # the multiply gate switches: ∂e/∂c is d's value 2, ∂e/∂d is c's value 3
    assert "Gate × at e: its local derivatives, ∂e/∂c=2, ∂e/∂d=3." in captions
    assert ("Gate × sends back local × upstream = gradient: c: 2 × 1 = 2; d: 3 × 1 = 3."
            in captions)
    # fan-out: b's gradient is the sum 2 + 3 of what its two gates send back
    assert "∂e/∂b = 2 + 3 = 5: b is used 2 times (by c, d), so the gradients arriving " \
        "along its edges add up." in captions
    assert "Forward mode: ∂e/∂b = 2·1 + 3·1 = 5." in captions
    assert captions[-1] == "Sum over the 2 paths from b: ∂e/∂b = 2 + 3 = 5."
    # each label appears at its step: e's value when e is computed, b's gradient later
    steps = data_of(text)["phases"]
    assert label_step(text, "v:e") == captions.index(forward[-1])
    assert steps["forward"] < label_step(text, "v:e") < steps["backward"] \
        <= label_step(text, "g:b") < steps["forward-mode"] < steps["paths"]


def test_the_four_gate_patterns_step_by_step():
    captions = data_of(page(PATTERNS))["captions"]
    joined = "\n".join(captions)
    assert "Forward: gate ×2 computes a = -20" in joined
    assert "∂a/∂a = 1" in joined
    # scale amplifies, add distributes, max routes, multiply switches
    assert "Gate ×2 sends back local × upstream = gradient: d: 2 × 1 = 2." in captions
    assert re.search(r"Gate \+ sends back local × upstream = gradient: b: 1 × 2 = 2; "
                     r"c: 1 × 2 = 2\.", joined)
    assert "Gate max sends back local × upstream = gradient: z: 1 × 2 = 2; w: 0 × 2 = 0." \
        in captions
    assert "Gate × sends back local × upstream = gradient: x: (-4) × 2 = -8; y: 3 × 2 = 6." \
        in captions


def test_exercise_2_the_neuron_matches_cs231n():
    captions = data_of(page(NEURON))["captions"]
    joined = "\n".join(captions)
    assert "computes f = 0.7311" in joined
    assert "∂f/∂w1 = -0.1966" in joined and "∂f/∂x2 = -0.5898" in joined


def test_a_tensor_graph_shows_shapes_and_a_few_values():
    g = Graph()
    W, x = g.input("W"), g.input("x")
    y = g.apply(MatVecGate(), W, x, name="y")
    s = g.apply(SumGate(), y, name="s")
    g.forward(W=np.arange(6.0).reshape(2, 3), x=np.ones(3))
    text = g.to_html(s)
    assert "(2, 3) [0, 1, 2, …]" in text and "(2,) [3, 12]" in text


def test_the_explain_command_writes_the_page_and_keeps_a_file_that_exists(tmp_path, capsys):
    out = tmp_path / "e.html"
    source, values, wrt = LECTURE
    args = ["explain", source, "--at", *[f"{k}={v}" for k, v in values.items()], "--wrt", wrt,
            "--html", str(out)]
    assert cli_main(args) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "http" not in text.replace(
        "http://www.w3.org/2000/svg", "")                 # nothing fetched from a network
    assert cli_main(args) == 2 and "--force" in capsys.readouterr().err


def test_the_page_speaks_vietnamese():
    set_language("vi")
    try:
        text = page(LECTURE)
    finally:
        set_language(None)
    captions = data_of(text)["captions"]
    assert captions[1] == "Tính giá trị: biến a = 2."
    assert "Cổng × tại e: các đạo hàm cục bộ, ∂e/∂c=2, ∂e/∂d=3." in captions
    assert any(c.startswith("∂e/∂b = 2 + 3 = 5: b được dùng 2 lần") for c in captions)
    assert ">Đạo hàm lùi</button>" in text and ">Tổng các đường đi</button>" in text


# -- in a real browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (CI installs "
                                                           "Debian's chromium): apt-get "
                                                           "install chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=3000"]


def browse(tmp_path, html_file, fragment: str, *extra) -> str:
    """What Chromium shows of ``html_file#fragment``: the DOM after the script ran."""
    what = list(extra) or ["--dump-dom"]
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *what,
                           f"file://{html_file}#{fragment}"],
                          capture_output=True, text=True, timeout=120)
    return done.stdout


def visible(dom: str, element: str) -> bool:
    m = re.search(rf'<text class="([^"]*)"[^>]*id="cg[0-9a-f]+-{re.escape(element)}"', dom)
    assert m, element
    return "cg-hidden" not in m.group(1)


@needs_browser
def test_in_chromium_a_student_sees_each_step_of_the_lecture_example(tmp_path):
    html_file = tmp_path / "e.html"
    html_file.write_text(page(LECTURE), encoding="utf-8")
    captions = data_of(html_file.read_text())["captions"]
    at_e = captions.index("Forward: gate × computes e = 6 from c=3, d=2.")
    started = time.perf_counter()
    before, after = (browse(tmp_path, html_file, f"step={k}") for k in (at_e - 1, at_e))
    assert not visible(before, "v:e") and visible(after, "v:e")
    assert ">6</text>" in after and 'data-step="%d"' % at_e in after
    assert "Forward: gate × computes e = 6 from c=3, d=2." in after
    fan_out = next(k for k, c in enumerate(captions) if c.startswith("∂e/∂b = 2 + 3 = 5"))
    dom = browse(tmp_path, html_file, f"step={fan_out}")
    assert visible(dom, "g:b") and "∂e/∂b = 5</text>" in dom
    assert visible(dom, "s:b&gt;d&gt;0") and visible(dom, "s:b&gt;c&gt;1")  # 3 and 2 sent
    # the multiply gate switches its inputs: its local derivatives are the other value,
    # shown from their own step on (not yet when the backward pass starts)
    locals_step = captions.index("Gate × at e: its local derivatives, ∂e/∂c=2, ∂e/∂d=3.")
    dom = browse(tmp_path, html_file, "backward")
    assert not visible(dom, "l:c&gt;e&gt;0")
    dom = browse(tmp_path, html_file, f"step={locals_step}")
    assert visible(dom, "l:c&gt;e&gt;0") and ">∂e/∂c=2</text>" in dom and ">∂e/∂d=3</text>" in dom
    # the sum over paths: b -> c -> e gives 2, b -> d -> e gives 3, highlighted in turn
    dom = browse(tmp_path, html_file, "paths")
    assert "Path b → c → e: 1 × 2 = 2." in dom and 'class="cg-edge cg-on"' in dom
    dom = browse(tmp_path, html_file, f"step={len(captions) - 1}")
    assert "Sum over the 2 paths from b: ∂e/∂b = 2 + 3 = 5." in dom
    # a fragment naming no step (or a property every object has) opens the first step
    dom = browse(tmp_path, html_file, "constructor")
    assert 'data-step="0"' in dom and f"step 0 / {len(captions) - 1}" in dom
    print(f"browser: 8 renders in {time.perf_counter() - started:.1f} s")


@needs_browser
def test_in_chromium_the_page_can_be_looked_at(tmp_path):
    html_file = tmp_path / "patterns.html"
    html_file.write_text(page(PATTERNS), encoding="utf-8")
    shot = tmp_path / "patterns.png"
    browse(tmp_path, html_file, "step=14", f"--screenshot={shot}", "--window-size=1100,700",
           "--hide-scrollbars")
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_explain_command_speaks_vietnamese_on_request(capsys):
    source, values, wrt = LECTURE
    at = [f"{k}={v}" for k, v in values.items()]
    try:
        assert cli_main(["explain", source, "--at", *at, "--wrt", wrt, "--lang", "vi"]) == 0
        out = capsys.readouterr().out
        assert "Phương pháp lùi" in out and "Phương pháp tiến" in out and "đạo hàm cục bộ" in out
        assert cli_main(["explain", source, "--at", *at, "--wrt", wrt, "--lang", "en"]) == 0
        assert "Reverse mode" in capsys.readouterr().out
    finally:
        set_language(None)


def test_x_times_x_is_one_gate_using_x_twice_and_its_two_paths_are_told_apart():
    text = page(("y = x*x", dict(x=3), "x"))
    captions = data_of(text)["captions"]
    assert "∂y/∂x = 3 + 3 = 6: x is used 2 times (by y), so the gradients arriving along " \
        "its edges add up." in captions
    path_steps = [k for k, c in enumerate(captions) if c == "Path x → y: 3 = 3."]
    assert len(path_steps) == 2
    lit = [re.findall(rf'id="cg[0-9a-f]+-e:x&gt;y&gt;(\d)"[^>]*data-on="[^"]* {k} ', text)
           for k in path_steps]
    assert lit == [["0"], ["1"]]            # each path lights its own edge
    assert captions[-1] == "Sum over the 2 paths from x: ∂y/∂x = 3 + 3 = 6."


def test_paths_too_many_to_list_and_no_path_at_all_are_said():
    source = "; ".join(["b1 = a + a"] + [f"b{k + 1} = b{k} + b{k}" for k in range(1, 14)])
    g = Graph.from_expression(source)
    g.forward(a=1.0)
    captions = data_of(g.to_html("b14", wrt="a"))["captions"]
    assert captions[-1].startswith("∂b14/∂a is the sum over 16384 paths, too many to list: "
                                   "1.638e+04. By stages: 16384 paths = 2 × 2 × 2")
    g = Graph.from_expression("u = a*b; z = c + 1")
    g.forward(a=1, b=2, c=3)
    captions = data_of(g.to_html("z", wrt="a"))["captions"]
    assert "No path leads from a to z: ∂z/∂a = 0." in captions
    assert "∂z/∂a = 0: no path leads from a to z, so no gradient arrives." in captions


def test_the_nine_paths_give_the_lectures_stages():
    g = Graph.from_expression("p1 = 2*x; p2 = x**2; p3 = sin(x); y = p1 + p2 + p3; "
                              "q1 = 3*y; q2 = y**2; q3 = cos(y); z = q1 + q2 + q3")
    g.forward(x=0.5)
    captions = data_of(g.to_html("z", wrt="x"))["captions"]
    assert sum(c.startswith("Path x → ") for c in captions) == 9
    assert "By stages: 9 paths = 3 × 3 (through y)." in captions[-1]


def test_a_graph_not_run_yet_says_so_and_showing_a_graph_runs_nothing():
    g = Graph.from_expression("e = (a+b)*(b+1)")
    shown = g._repr_html_()
    assert "e is not computed yet: run the graph's forward pass first." in \
        data_of(shown)["captions"]
    g.forward(a=2, b=1)
    assert g.node("b").grad is None
    g._repr_html_()
    assert g.node("b").grad is None          # no backward was run to draw it


def test_two_pages_in_one_notebook_never_share_ids():
    g = Graph.from_expression("e = (a+b)*(b+1)")
    g.forward(a=2, b=1)
    first, second = (re.search(r'id="(cg[0-9a-f]+)"', g.explain("e")._repr_html_()).group(1)
                     for _ in range(2))
    assert first != second


def test_a_node_name_cannot_end_the_pages_script_or_inject_markup():
    g = Graph()
    a = g.input("<!--<script>")
    b = g.input("</script><img src=x onerror=alert(1)>")
    g.apply(AddGate(), a, b, name="z")
    g.forward(**{"<!--<script>": 1.0, "</script><img src=x onerror=alert(1)>": 2.0})
    text = g.to_html("z", wrt="<!--<script>")
    data = re.search(r'class="cg-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in data                      # the data holds no markup at all
    assert "<img" not in text and "<!--<script>" not in text
    assert text.count("<script") == 2           # the data and the page's own script
