"""The code that runs *inside* the child process: import a submission, call its gates.

This file is executed by path (``python -I -S runner.py INPUTS WORK FD``), never
imported by the grader, and imports nothing but the standard library and numpy, so it
works in a child whose ``sys.path`` holds only the standard library and numpy's folder.

It reads ``INPUTS/task.json`` (what to do) and ``INPUTS/cases.npz`` (the inputs,
upstream gradients and tangents the grader chose), works in ``WORK`` (its own
folder), calls the submission, and sends what came back, raw, as one frame per step
into the pipe ``FD`` (format: :mod:`gates.grade.frames`), each as soon as the step
ends, so a later crash or timeout keeps the earlier steps. It judges nothing: the
grader compares the arrays with its own expectations.

Steps: ``ready`` (before any submission code runs: the child started), then for a
gate task, per case ``i``: ``c<i>_forward`` (the output, and the inputs as they are
afterwards), ``c<i>_backward`` (backward(u1), backward(u1) again, then backward(u2) on
a second gate after a forward of its own, and the first gate's inputs afterwards),
``c<i>_jvp`` (if asked); ``done`` at the end. All forwards run
before any backward, so a backward that hangs still leaves the forward results.
"""

import json
import os
import resource
import struct
import sys
import traceback

# Limits first, before anything the submission controls runs in this process.
_INPUTS, _WORK, _FD = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(_INPUTS, "task.json"), encoding="utf-8") as _f:
    TASK = json.load(_f)
_LIMITS = TASK["limits"]
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (_LIMITS["cpu"], _LIMITS["cpu"] + 1))
resource.setrlimit(resource.RLIMIT_AS, (_LIMITS["memory"], _LIMITS["memory"]))
resource.setrlimit(resource.RLIMIT_FSIZE, (_LIMITS["fsize"], _LIMITS["fsize"]))
# counted per uid, the runner included: 1 means no new process or thread
resource.setrlimit(resource.RLIMIT_NPROC, (_LIMITS["nproc"], _LIMITS["nproc"]))
# memory outside the address space: a file in memory (memfd) is capped like any file,
# and the number of open files caps how many; no POSIX message queues at all
resource.setrlimit(resource.RLIMIT_NOFILE, (_LIMITS["nofile"], _LIMITS["nofile"]))
resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))


def _forget_keys():
    """Empty the grading uid's kernel keyrings, which outlive its processes: nothing an
    earlier child stored there reaches this one (only ever run as a grading uid)."""
    import ctypes
    keyctl = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
    if keyctl is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING, and the uid's persistent
    # keyring (KEYCTL_GET_PERSISTENT of uid -1, linked to the process keyring -2)
    rings = [-4, -5, libc.syscall(keyctl, 22, -1, -2)]
    for ring in rings:
        if ring != -1:
            libc.syscall(keyctl, 7, ctypes.c_long(ring))   # KEYCTL_CLEAR


if TASK.get("grading_uid"):
    _forget_keys()

# numpy's folder (the child runs without ``site``); never this file's own folder, in
# case an interpreter puts it on the path despite -I (the submission sits beside it)
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != _HERE] + TASK["sys_path"]

import importlib.machinery  # noqa: E402  (after the limits on purpose)
import importlib.util  # noqa: E402

import numpy as np  # noqa: E402

# Bound now, so a submission that rebinds them cannot change how results are sent
# (it can still write into the pipe itself: the grader believes only numbers).
_dumps, _write_fd, _asarray, _pack = json.dumps, os.write, np.asarray, struct.Struct(">4sIQ").pack
_MAX_TEXT = 2000


#: Events that create, remove or change a file or folder, and which of their
#: arguments are paths: allowed only inside the child's own working directory.
_CHANGING = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
             "os.link": (0, 1), "os.symlink": (1,), "os.chmod": (0,), "os.chown": (0,),
             "os.truncate": (0,), "os.utime": (0,), "os.mkfifo": (0,), "os.mknod": (0,)}
_SPAWNING = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
             "subprocess.Popen", "pty.spawn"}
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


#: Every top-level module loaded since the guard went up: a framework that the
#: submission deletes from sys.modules after using it is still reported.
_IMPORTED = set()


def _own_module(name):
    """Whether the submission handed in a module ``name`` (a file or a package)."""
    return (os.path.isfile(os.path.join(_SOURCES, name + ".py"))
            or os.path.isdir(os.path.join(_SOURCES, name)))


def _guard(blocked_names, blocked_dirs, own_dir, inputs_dir):
    """An audit hook that tells an honest student, in plain words, what a submission
    may not do. It is a courtesy, not the boundary: the hook lives in the same process
    as the submission, which can undo it (``gc``, ctypes); the kernel's isolation
    (:mod:`gates.grade.isolation`) is what actually stops a hostile one.

    Refused with a message: importing or reading compgraph's own packages; reading
    anything but its folders, Python's and numpy's files, ``/dev`` and its own
    ``/proc`` entries; writing, creating, renaming or deleting anything outside
    ``own_dir``; opening folders; signalling other processes; starting processes.
    """
    own = os.path.join(os.path.realpath(own_dir), "")
    dirs = tuple(os.path.join(d, "") for d in blocked_dirs)
    pid = os.getpid()
    readable = (own, os.path.join(os.path.realpath(inputs_dir), ""), "/dev/",
                f"/proc/{pid}/", "/proc/self/") + tuple(
        os.path.join(os.path.realpath(os.path.dirname(f)), "")
        for f in (os.__file__, os.path.dirname(np.__file__)))

    def resolve(path):
        # an int is a descriptor, checked when it was opened
        return None if isinstance(path, int) else os.path.realpath(os.fsdecode(path))

    def hook(event, args):
        if event == "import":
            top = str(args[0]).split(".")[0]
            # a student's own graph.py or gates.py, handed in beside the main file, is
            # theirs to import (the reference itself is out of reach at any level)
            if top in blocked_names and not _own_module(top):
                raise ImportError(f"a submission may not import compgraph's reference package "
                                  f"'{args[0]}': write the gates yourself")
            _IMPORTED.add(top)
        elif event == "open":
            path = resolve(args[0])
            if path is None:
                return
            inside = os.path.join(path, "")
            if dirs and inside.startswith(dirs):
                raise PermissionError(f"a submission may not read {args[0]!r}")
            if not inside.startswith(readable):
                raise PermissionError(f"a submission may read only its own folder and "
                                      f"Python's and numpy's files, not {args[0]!r}")
            if os.path.isdir(path):
                raise PermissionError(f"a submission may not open folders ({args[0]!r})")
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if flags & _WRITING and not path.startswith(own):
                raise PermissionError(f"a submission may not write outside its own folder "
                                      f"({args[0]!r})")
        elif event in _CHANGING:
            for k in _CHANGING[event]:
                path = resolve(args[k])
                if path is not None and not path.startswith(own):
                    raise PermissionError(f"a submission may not change files outside its "
                                          f"own folder ({event} {args[k]!r})")
        elif event in ("os.kill", "os.killpg") and args[0] != pid:
            raise PermissionError(f"a submission may not signal other processes ({event})")
        elif event in _SPAWNING:
            raise PermissionError(f"a submission may not start processes ({event})")

    sys.addaudithook(hook)


def _error(exc):
    """A description of an exception: type, message, and the line of the submission's
    files it came from (the file named when it is not the main one)."""
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.dirname(frame.filename) == _SOURCES:
            where = {"line": frame.lineno, "code": (frame.line or "")[:200],
                     "function": frame.name}
            if frame.filename != SUBMISSION:
                where["file"] = os.path.basename(frame.filename)
    if isinstance(exc, SystemExit):
        text = f"called sys.exit({exc.code!r})"
    else:
        text = str(exc)
    return {"type": type(exc).__name__, "message": text[:_MAX_TEXT], "where": where}


def _frameworks():
    return sorted(n for n in TASK["frameworks"] if n in sys.modules or n in _IMPORTED)


def _write(step, arrays, info):
    """Send one step's arrays and descriptions as one frame into the results pipe."""
    info = dict(info, frameworks=_frameworks())
    layout, chunks = [], []
    for key, arr in arrays.items():
        arr = np.asarray(arr, order="C")     # already a copy the runner made
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        layout.append([key, arr.dtype.str, list(arr.shape)])
        chunks.append(arr.tobytes())
    meta = _dumps({"step": step, "info": info, "arrays": layout}).encode("utf-8")
    data = b"".join(chunks)
    frame = memoryview(_pack(b"CGR1", len(meta), len(data)) + meta + data)
    while frame:
        frame = frame[_write_fd(_FD, frame):]


def _describe(value, arrays, key):
    """Store ``value`` under ``key`` if it is a real numeric array or number; say what it was."""
    kind = type(value).__name__
    if value is None:
        return {"kind": "None"}
    try:
        arr = _asarray(value)
    except Exception as exc:  # noqa: BLE001  (anything a submission returns)
        return {"kind": kind, "problem": f"cannot be read as an array: {str(exc)[:200]}"}
    if arr.dtype.kind not in "biuf":
        return {"kind": kind, "problem": f"holds {arr.dtype} values, not real numbers"}
    if arr.dtype.itemsize not in (1, 2, 4, 8, 16):
        arr = arr.astype(np.float64 if arr.dtype.kind == "f" else np.int64)
    arrays[key] = np.array(arr, copy=True)
    return {"kind": kind}


def _grads(value, arrays, prefix):
    """Describe what backward returned: a tuple/list of gradients, or a bare array."""
    if isinstance(value, (tuple, list)):
        return {"container": type(value).__name__, "length": len(value),
                "items": [_describe(g, arrays, f"{prefix}_{j}") for j, g in enumerate(value)]}
    return {"container": None, "length": None, "items": [_describe(value, arrays, f"{prefix}_0")]}


def _call(fn, *args):
    try:
        return fn(*args), None
    except BaseException as exc:  # noqa: BLE001  (SystemExit and KeyboardInterrupt too)
        return None, _error(exc)


def _arg(arr):
    """Every input is an ndarray, 0-d ones included (``np.array(2.0)``, not
    ``np.float64(2.0)``): ``out = x.copy(); out[out < 0] = 0`` works on all of them."""
    return arr


class FrameworkNotAvailable(ImportError):
    """Raised by any use of an autodiff framework inside graded code."""


class _Placeholder(type):
    """What ``torch.tensor`` and friends are in graded code: a class (so that a gate may
    still subclass ``torch.autograd.Function`` and the file imports) whose every use,
    calling, arithmetic, comparing, raises :class:`FrameworkNotAvailable`."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _placeholder(f"{cls.__qualname__}.{attr}")

    def __call__(cls, *args, **kwargs):
        raise FrameworkNotAvailable(f"{cls.__qualname__} is not available: autodiff frameworks "
                                f"are never loaded for grading (on any machine); write "
                                f"this gate with numpy")


def _refuse(self, *args, **kwargs):
    _Placeholder.__call__(self)


for _op in ("add radd sub rsub mul rmul truediv rtruediv floordiv matmul rmatmul pow rpow "
            "neg pos abs lt le gt ge getitem iter len bool float int index").split():
    setattr(_Placeholder, f"__{_op}__", _refuse)


def _placeholder(name):
    return _Placeholder(name, (), {"__qualname__": name, "__module__": name.split(".")[0]})


class _FrameworkModule(type(os)):
    """A framework's module in graded code: importing it works, using it does not."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _placeholder(f"{self.__name__}.{attr}")


class _FrameworkFinder:
    """First on ``sys.meta_path``: torch, jax, tensorflow, autograd (and their
    submodules) always import as placeholders, installed on this machine or not, so a
    submission that uses one for a single gate loses only what that gate cannot do,
    the same on every grading machine."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] not in TASK["frameworks"]:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _FrameworkModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


class _OnlyNumpyFinder:
    """Second on ``sys.meta_path``: a top-level module that is neither the standard
    library, numpy, nor a file handed in with the submission is refused, at every
    isolation level. Under bubblewrap only numpy is visible anyway; at the levels that
    see the machine's site-packages (a Gradescope container, ``compgraph check``) scipy
    or matplotlib would import, and the same file would pass there and fail under
    bubblewrap."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if "." in fullname or top == "numpy" or top in sys.stdlib_module_names or \
                importlib.machinery.PathFinder.find_spec(top, [_SOURCES]) is not None:
            return None
        raise ModuleNotFoundError(f"No module named '{top}': a submission may import only "
                                  f"numpy and the standard library", name=top)


def _import():
    sys.meta_path.insert(0, _FrameworkFinder())
    sys.meta_path.insert(1, _OnlyNumpyFinder())
    # the files handed in with the main one are importable, as beside a script
    sys.path.insert(0, _SOURCES)
    # a name no student's own file has, so that a sibling named submission.py is theirs
    spec = importlib.util.spec_from_file_location("__submission__", SUBMISSION)
    module = importlib.util.module_from_spec(spec)
    sys.modules["__submission__"] = module
    spec.loader.exec_module(module)
    return module


def _probe(module):
    classes = {}
    for name in TASK["gates"]:
        cls = getattr(module, name, None)
        classes[name] = {
            "found": isinstance(cls, type),
            "methods": [m for m in ("forward", "backward", "jvp")
                        if callable(getattr(cls, m, None))] if isinstance(cls, type) else []}
    return classes


def _new_gate(cls, case):
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in case["params"].items()})


def _grade_gate(module, data):
    cls = getattr(module, TASK["gate"])
    gates = []
    for i, case in enumerate(TASK["cases"]):
        inputs = [data[f"c{i}_in{j}"].copy() for j in range(case["arity"])]
        arrays, info = {}, {}
        gate, err = _call(lambda: _new_gate(cls, case))
        if err is None:
            out, err = _call(gate.forward, *[_arg(a) for a in inputs])
            if err is None:
                info["output"] = _describe(out, arrays, "out")
        info["error"] = err
        for j, a in enumerate(inputs):
            arrays[f"after_{j}"] = a
        _write(f"c{i}_forward", arrays, info)
        gates.append((gate if err is None else None, inputs))
    for i, case in enumerate(TASK["cases"]):
        gate, inputs = gates[i]
        if gate is None:
            continue
        arrays, info = {}, {"error": None}
        for call, key in (("up1", "g1"), ("up1", "g1again"), ("up2", "g2")):
            if key == "g2":
                # each upstream is judged after a forward of its own: a backward that
                # changes its cache loses "repeatable" (g1again), not its gradients
                fresh = [data[f"c{i}_in{j}"].copy() for j in range(case["arity"])]
                gate, err = _call(lambda: _new_gate(cls, case))
                if err is None:
                    _, err = _call(gate.forward, *[_arg(a) for a in fresh])
                if err is not None:
                    info["error"] = dict(err, call=key)
                    break
            value, err = _call(gate.backward, _arg(data[f"c{i}_{call}"].copy()))
            if err is not None:
                info["error"] = dict(err, call=key)
                break
            info[key] = _grads(value, arrays, key)
        for j, a in enumerate(inputs):     # the first gate's inputs, after two backwards
            arrays[f"after_{j}"] = a
        _write(f"c{i}_backward", arrays, info)
    if not TASK["jvp"]:
        return
    for i, case in enumerate(TASK["cases"]):
        gate, inputs = gates[i]
        if gate is None:
            continue
        tangents = [_arg(data[f"c{i}_t{j}"].copy()) if f"c{i}_t{j}" in data else None
                    for j in range(case["arity"])]
        arrays, info = {}, {}
        value, info["error"] = _call(gate.jvp, *tangents)
        if info["error"] is None:
            info["tangent"] = _describe(value, arrays, "tangent")
        _write(f"c{i}_jvp", arrays, info)


def main():
    """Import the submission under the guard, then probe it or grade its gate."""
    # the runner itself works under these limits: what fails from here on is the submission's
    _write("ready", {}, {})
    # the cases are opened before the submission's files are importable: numpy's npz
    # reader imports zipfile, which a student's own zipfile.py must not replace
    data = (np.load(os.path.join(_INPUTS, "cases.npz"), allow_pickle=False)
            if TASK["mode"] == "gate" else None)
    _guard(set(TASK["blocked"]), TASK["blocked_dirs"], _WORK, _INPUTS)
    module, err = _call(_import)
    if err is not None or TASK["mode"] == "probe":
        info = {"error": err, "modules": sorted(m for m in sys.modules if "." not in m)}
        if err is None:
            info["classes"] = _probe(module)
        _write("import", {}, info)
        return
    _grade_gate(module, data)


SUBMISSION = os.path.join(_INPUTS, TASK["submission"])
_SOURCES = os.path.dirname(SUBMISSION)

if __name__ == "__main__":
    main()
    # The marker tells a normal end from a submission's own os._exit(0).
    _write("done", {}, {})
    # Flush the submission's prints, then leave without running its atexit hooks.
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001  (a full output file must not hide the results)
        pass
    os._exit(0)
