"""The grader's isolation, its reading of what a child sends back, and its clean-up.

The hostile submissions themselves are in ``test_grade_attacks.py``; here are the
parts they rely on, each tested alone: choosing an isolation level, the frame reader
(every malformed frame is dropped, never trusted, never a crash), the removal of a
child's folder whatever it holds, killing every process of a grading uid, and what
the sandbox shows and lets a child write.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import struct
import subprocess
import textwrap

import numpy as np
import pytest

from gates.grade import isolation as iso
from gates.grade.frames import read_frames
from gates.grade.trees import remove_tree

ROOT_AND_BWRAP = pytest.mark.skipif(
    os.geteuid() != 0 or iso.bwrap_works(True) is not None,
    reason="needs root and bubblewrap (CI has both: .ci/run installs bubblewrap)")


def frame(step, info, arrays=(), json_len=None, data_len=None, magic=b"CGR1"):
    """One frame as the runner writes it; the lengths can lie."""
    layout = [[k, a.dtype.str, list(a.shape)] for k, a in arrays]
    meta = json.dumps({"step": step, "info": info, "arrays": layout}).encode()
    data = b"".join(a.tobytes() for _, a in arrays)
    return struct.pack(">4sIQ", magic, len(meta) if json_len is None else json_len,
                       len(data) if data_len is None else data_len) + meta + data


# -- the frames a child sends back ----------------------------------------------------

def test_well_formed_frames_give_the_steps_with_their_arrays():
    out = np.arange(6.0).reshape(2, 3)
    labels = np.array([1, 0], dtype=np.int64)
    steps = read_frames(frame("ready", {}) + frame("c0_forward", {"error": None},
                                                   [("out", out), ("after_1", labels)]))
    assert set(steps) == {"ready", "c0_forward"}
    arrays, info = steps["c0_forward"]
    assert info == {"error": None}
    np.testing.assert_array_equal(arrays["out"], out)
    assert arrays["after_1"].dtype == np.int64 and arrays["after_1"].tolist() == [1, 0]


def test_a_zero_d_array_keeps_its_shape():
    steps = read_frames(frame("c0_forward", {}, [("out", np.array(2.5))]))
    assert steps["c0_forward"][0]["out"].shape == ()


@pytest.mark.parametrize("bad", [
    frame("c0_forward", {}, [("out", np.zeros(3, dtype="V8"))]),                   # void
    frame("../../etc/passwd", {}),                                                 # a name
    frame("c0_forward", {}, [("out", np.zeros(3))], data_len=8 * 10 ** 12),        # 8 TB
    frame("c0_forward", {}, json_len=2 ** 31),                                     # 2 GB JSON
    frame("c0_forward", {}, magic=b"PK\x03\x04"),                                  # a zip
    frame("c0_forward", json.loads("[" * 10 + "]" * 10)),                          # deep
    b"\x00" * 40,                                                                  # garbage
])
def test_a_malformed_frame_ends_the_reading_and_keeps_what_came_before(bad):
    steps = read_frames(frame("ready", {}) + bad + frame("done", {}))
    assert list(steps) == ["ready"]


def test_a_frame_whose_shapes_do_not_add_up_to_its_data_is_dropped():
    good = frame("c0_forward", {}, [("out", np.zeros(4))])
    meta_len = struct.unpack(">4sIQ", good[:16])[1]
    lying = good[:16 + meta_len].replace(b"[4]", b"[5]") + good[16 + meta_len:]
    assert read_frames(lying) == {}


def test_json_a_million_levels_deep_is_refused_without_a_recursion_error():
    meta = b'{"step": "ready", "info": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    assert read_frames(struct.pack(">4sIQ", b"CGR1", len(meta), 0) + meta) == {}


def test_the_first_frame_of_a_step_counts_and_lone_surrogates_are_made_printable():
    steps = read_frames(frame("import", {"error": "\ud800"}) + frame("import", {"error": 1}))
    assert steps["import"][1] == {"error": "\\ud800"}


# -- removing a child's folder ----------------------------------------------------------

def test_a_folder_deeper_than_the_recursion_limit_and_path_max_is_removed(tmp_path):
    top = tmp_path / "work"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(3000):           # 6,000 characters of path, 3,000 levels
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(fd)
        assert remove_tree(top) and not top.exists()
    finally:
        # pytest's own clean-up of tmp_path recurses: never leave the tree to it
        subprocess.run(["rm", "-rf", "--", str(top)], check=False)


def test_folders_without_permissions_fifos_and_symlinks_are_removed_not_followed(tmp_path):
    outside = tmp_path / "keep.txt"
    outside.write_text("the teacher's file")
    top = tmp_path / "work"
    (top / "locked" / "inner").mkdir(parents=True)
    os.mkfifo(top / "fifo")
    (top / "link").symlink_to(outside)
    (top / "zero").symlink_to("/dev/zero")
    os.chmod(top / "locked", 0)
    assert remove_tree(top) and not os.path.lexists(top)
    assert outside.read_text() == "the teacher's file"


# -- choosing the isolation ---------------------------------------------------------------

def test_an_unknown_level_is_an_error_naming_the_levels():
    with pytest.raises(iso.IsolationError, match="levels are uid\\+namespaces, uid"):
        iso.choose("chroot")


def test_require_isolation_refuses_process_only():
    with pytest.raises(iso.IsolationError, match="--require-isolation refuses"):
        iso.choose("process only", require=True)
    level = iso.choose("process only")
    assert level.level == "process only" and "WARNING: process-only" in level.warnings[0]


@ROOT_AND_BWRAP
def test_as_root_with_bubblewrap_the_strongest_level_is_chosen():
    assert iso.choose().level == "uid+namespaces"
    with pytest.raises(iso.IsolationError, match="'namespaces' is not available.*root"):
        iso.choose("namespaces")


def start_as(slot, script: str, at_least: int) -> None:
    """Run the shell ``script`` as the slot's uid, and wait until it has ``at_least``
    processes."""
    subprocess.Popen(["/bin/sh", "-c", script], user=slot.uid, group=slot.gid,
                     extra_groups=[], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if len(iso._processes_of(slot.uid)) >= at_least:
            return
        subprocess.run(["sleep", "0.02"])


@ROOT_AND_BWRAP
def test_every_process_of_a_grading_uid_is_killed_even_one_in_a_new_session():
    slot = iso.acquire_slot()
    try:
        start_as(slot, "sleep 30 & setsid sleep 31 & sleep 32", at_least=3)
        assert len(iso._processes_of(slot.uid)) >= 3
        assert iso.kill_uid(slot.uid) == []
        assert iso._processes_of(slot.uid) == []
    finally:
        slot.release()


@ROOT_AND_BWRAP
def test_two_slots_held_at_once_have_different_uids():
    first, second = iso.acquire_slot(), iso.acquire_slot()
    try:
        assert first.uid != second.uid
        assert all(64000 <= s.uid <= 64063 for s in (first, second))
    finally:
        first.release()
        second.release()


@ROOT_AND_BWRAP
def test_the_sandbox_shows_numpy_but_not_compgraph_nor_other_packages(tmp_path):
    import gates
    from gates.grade.grader import reference_dirs

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(inputs, 0o755)
    site, _ = iso.numpy_dirs()
    code = ("import os, sys; print(sorted(os.listdir(sys.argv[1]))); "
            "print(os.path.exists(sys.argv[2]))")
    command = iso.bwrap_command(inputs, 1 << 20, reference_dirs(), as_root=True) + [
        iso.interpreter(), "-I", "-S", "-c", code, site,
        os.path.join(os.path.dirname(gates.__file__), "nonlinear.py")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    listing, reference_visible = done.stdout.splitlines()
    assert "'numpy'" in listing and "scipy" not in listing and "gates" not in listing
    assert reference_visible == "False"


@ROOT_AND_BWRAP
def test_grading_works_when_the_path_names_folders_the_sandbox_does_not_have(tmp_path,
                                                                              monkeypatch):
    # a teacher's PATH may hold tools through folders of links (a venv's bin, ~/bin);
    # inside the sandbox only /usr is there, so setpriv must be named by its real path
    import shutil

    from gates.grade import grade_submission, solution_source

    links = tmp_path / "bin"
    links.mkdir()
    for tool in ("bwrap", "setpriv", "find", "ipcrm"):
        found = shutil.which(tool)
        if found:
            (links / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(links))
    path = tmp_path / "student.py"
    path.write_text(solution_source(), encoding="utf-8")
    result = grade_submission(path, gates=["AddGate"], timeout=5.0)
    assert result.isolation == "uid+namespaces" and result.score == 10.0


def test_without_namespaces_a_child_filling_its_folder_is_stopped(tmp_path):
    # at the uid and process-only levels the folder is on the grader's disk, not a
    # capped tmpfs: the grader measures it while the child runs
    from gates.grade import grade_submission, solution_source

    path = tmp_path / "student.py"
    path.write_text(solution_source() + textwrap.dedent("""
        class ExpGate(ExpGate):
            def forward(self, x):
                for i in range(45):                      # 450 MB, 10 MB a file
                    with open(f"blob{i}", "wb") as f:
                        f.write(b"x" * (10 << 20))
                return super().forward(x)
    """), encoding="utf-8")
    result = grade_submission(path, gates=["ExpGate", "AddGate"], isolation="process only",
                              timeout=10.0)
    exp, add = result.gates
    assert exp.score == 0 and "more than the 64 MB its folder may hold" in exp.notes[0]
    assert add.score == 10.0


@ROOT_AND_BWRAP
def test_the_sandbox_is_read_only_but_for_its_folder_even_to_root_inside(tmp_path):
    # bwrap remounts read-only what it mounted: the root, /dev and every hidden package
    # folder. Without root those tmpfs would be the child's own to write; here the
    # command even runs as root inside the namespaces (no setpriv), the harder case.
    from gates.grade.grader import reference_dirs

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    hidden = os.path.join(iso.numpy_dirs()[0], "compgraph-probe")
    script = ("for p in /probe /dev/probe /grade/probe " + hidden + " /work/probe; do "
              "if mkdir $p 2>/dev/null; then echo wrote $p; else echo refused $p; fi; done")
    command = iso.bwrap_command(inputs, 1 << 20, reference_dirs(), as_root=True) + [
        "/bin/sh", "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.stdout.split("\n")[:-1] == [
        "refused /probe", "refused /dev/probe", "refused /grade/probe", f"refused {hidden}",
        "wrote /work/probe"], done.stdout + done.stderr
    assert not os.path.exists(hidden) and list(inputs.iterdir()) == []


@ROOT_AND_BWRAP
def test_a_uid_whose_process_outlives_every_kill_is_never_handed_out(monkeypatch):
    # a uid that still has a process could be shared by a classmate's child (same uid:
    # signals, ptrace): acquire_slot passes it over, and keeps it locked so no other
    # grader on the machine takes it either
    first = iso.acquire_slot()
    stuck = first.uid
    first.release()
    monkeypatch.setattr(iso, "kill_uid", lambda uid: [4242] if uid == stuck else [])
    slot = iso.acquire_slot()
    try:
        assert slot.uid != stuck
        with open(iso.LOCK_DIR / f"uid-{stuck}.lock") as f:     # still locked by us
            with pytest.raises(BlockingIOError):
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        slot.release()


@ROOT_AND_BWRAP
def test_kill_uid_ends_a_process_that_keeps_starting_others():
    # kill(-1) sent as the uid reaches every one of its processes in one pass, so a
    # spawner cannot outrun it (bounded: at most 300 sleeps, each of 5 s)
    slot = iso.acquire_slot()
    try:
        start_as(slot, "i=0; while [ $i -lt 300 ]; do sleep 5 & i=$((i+1)); done; wait",
                 at_least=30)               # killed while it is still starting them
        assert iso.kill_uid(slot.uid) == []
        subprocess.run(["sleep", "0.1"])
        assert iso._processes_of(slot.uid) == []
    finally:
        slot.release()


@ROOT_AND_BWRAP
def test_when_bwrap_dies_everything_in_its_namespace_dies_with_it(tmp_path):
    # if the grader itself is killed, nobody runs kill_uid: the namespace must end with
    # bwrap (its init stays root, whom the child cannot signal, so its death is final)
    from gates.grade import sandbox
    from gates.grade.grader import reference_dirs

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "submission.py").write_text("import time\ntime.sleep(30)\n")
    task = {"mode": "probe", "submission": "submission.py", "gates": [], "frameworks": [],
            "blocked": [], "blocked_dirs": [], "jvp": False}
    child = sandbox.Child(inputs, task, sandbox.Limits(timeout=20.0),
                          iso.choose("uid+namespaces"), reference_dirs())
    uid = child.slot.uid
    try:
        for _ in range(200):                   # until the runner is up, as the grading uid
            if iso._processes_of(uid):
                break
            subprocess.run(["sleep", "0.01"])
        assert iso._processes_of(uid)
        os.killpg(child.proc.pid, signal.SIGKILL)          # bwrap dies, nothing else is done
        child.proc.wait()
        for _ in range(100):
            if not iso._processes_of(uid):
                break
            subprocess.run(["sleep", "0.01"])
        assert iso._processes_of(uid) == []
    finally:
        child.finish()
