"""Where, and as whom, a grading child runs: the isolation levels and their commands.

The boundary is the kernel's. Four levels, strongest first:

``uid+namespaces`` (the grader is root and bubblewrap works)
    ``bwrap``, run as root, gives the child new PID, network, IPC, UTS and mount
    namespaces in which only the interpreter, the system libraries (``/usr``), numpy,
    the child's inputs (read-only) and a size-capped tmpfs (its folder) exist; every
    site-packages folder and compgraph's own packages are hidden under empty tmpfs.
    Inside, ``setpriv`` drops to a grading uid: no capabilities, no supplementary
    groups, ``no_new_privs``, an empty bounding set. Killing ``bwrap`` ends the PID
    namespace, and with it everything the child started.
``uid`` (root, no usable bubblewrap: a Docker container such as Gradescope's)
    ``setpriv`` alone: the child sees the file system as any unprivileged user would,
    and the kernel's permissions stop it (it cannot write the Python installation,
    read root's files or signal, ``prlimit`` or read the memory of the grader).
``namespaces`` (not root, bubblewrap works through user namespaces: a laptop)
    ``bwrap`` as the teacher's own user, with a new user namespace: the same view as
    the first level, but the child's uid is the teacher's.
``process only`` (not root, no bubblewrap)
    a child process in its own session with rlimits and the runner's audit hook; a
    warning says what it cannot stop.

Each child of the uid levels gets its own uid from :data:`UID_RANGE` (one at a time,
held by an ``flock`` in a root-only folder, so concurrent children and concurrent
graders never share one): ``kill(-1)`` run as that uid then ends every process it left.
At every level the runner sets ``RLIMIT_NPROC`` to 1, so a child (not root) starts none.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import grp
import os
import pwd
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: The levels, strongest first.
LEVELS = ("uid+namespaces", "uid", "namespaces", "process only")

#: uids that only grading children use (override: ``COMPGRAPH_GRADING_UIDS=64000-64063``).
UID_RANGE = (64000, 64063)

#: Where the uid locks live: a folder only root can write.
LOCK_DIR = Path("/run/compgraph-grade")

#: Inside the namespaces: the child's inputs (read-only) and its own folder (tmpfs).
SANDBOX_INPUTS = "/grade"
SANDBOX_WORK = "/work"

#: World-writable places a uid-level child could leave files in; swept after it.
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


class IsolationError(RuntimeError):
    """The isolation asked for is not available here (says why and what to install)."""


def is_root() -> bool:
    """True when the grader can change uid (and so give each child its own)."""
    return os.geteuid() == 0


def _uid_range() -> range:
    return _grading_uid_range(os.environ.get("COMPGRAPH_GRADING_UIDS"))


@functools.lru_cache(maxsize=None)
def _grading_uid_range(text: str | None) -> range:
    if not text:
        low, high = UID_RANGE
    else:
        try:
            low, high = (int(p) for p in text.split("-"))
        except ValueError:
            raise IsolationError(f"COMPGRAPH_GRADING_UIDS={text!r}: expected two uids "
                                 f"like 64000-64063") from None
        if not 1000 <= low <= high < 2 ** 31:
            raise IsolationError(f"COMPGRAPH_GRADING_UIDS={text!r}: expected "
                                 f"1000 <= first <= last")
    return range(low, high + 1)


def _reserved(uid: int) -> bool:
    """A uid (and the group of the same number) is ours unless the system gives it to
    someone else than a grading user."""
    for lookup in (lambda: pwd.getpwuid(uid).pw_name, lambda: grp.getgrgid(uid).gr_name):
        try:
            if not lookup().startswith("compgraph"):
                return False
        except KeyError:
            pass
    return True


@functools.lru_cache(maxsize=None)
def _grading_uids(text: str | None) -> tuple[int, ...]:
    """The uids of the range that no one else has: looked up once per process (each
    lookup reads the user and group databases; a child per gate must not pay for 64)."""
    return tuple(u for u in _grading_uid_range(text) if _reserved(u))


@dataclass
class Slot:
    """One grading uid, held (by an exclusive flock) while one child uses it."""

    uid: int
    lock_fd: int

    @property
    def gid(self) -> int:
        """The child's only group: the uid's number, shared with nobody."""
        return self.uid

    def release(self) -> None:
        """Give the uid back (after :func:`kill_uid` and the folder's removal)."""
        os.close(self.lock_fd)


def acquire_slot(wait: float = 60.0) -> Slot:
    """A free grading uid: free of other graders' locks, and swept of any process an
    earlier, crashed grader left under it. Waits up to ``wait`` seconds for one."""
    try:
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise IsolationError(f"cannot create {LOCK_DIR} for the grading uids: {exc}") from None
    info = LOCK_DIR.lstat()
    if info.st_uid != 0 or info.st_mode & 0o022 or not LOCK_DIR.is_dir():
        raise IsolationError(f"{LOCK_DIR} must be a folder owned by root that only root "
                             f"can write")
    uids = _grading_uids(os.environ.get("COMPGRAPH_GRADING_UIDS"))
    if not uids:
        raise IsolationError("every uid of COMPGRAPH_GRADING_UIDS belongs to a user")
    deadline = time.monotonic() + wait
    while True:
        for uid in uids:
            fd = os.open(LOCK_DIR / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
                         0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if kill_uid(uid):     # a process of it outlives every kill: never use it
                continue          # (the lock stays held, so no other grader does)
            return Slot(uid, fd)
        if time.monotonic() > deadline:
            raise IsolationError(f"all {len(uids)} grading uids are busy")
        time.sleep(0.05)


def _processes_of(uid: int) -> list[int]:
    """Live (not zombie) processes whose real uid is ``uid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as f:
                status = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and \
                not fields.get("State", "").strip().startswith(("Z", "X")):
            pids.append(int(entry))
    return pids


def kill_uid(uid: int, rounds: int = 20) -> list[int]:
    """SIGKILL every process of ``uid``; returns those still alive (normally none).

    ``kill(-1, SIGKILL)`` sent *as* ``uid`` (a shell's builtin ``kill``, which exists on
    every system) reaches all of that uid's processes in one pass of the kernel, so a
    process that keeps forking cannot outrun it; the loop checks /proc and repeats.
    """
    for _ in range(rounds):
        if not _processes_of(uid):
            return []
        subprocess.run(["/bin/sh", "-c", "kill -9 -1"], user=uid, group=uid,
                       extra_groups=[], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        time.sleep(0.01)
    return _processes_of(uid)


def sweep_shared(uid: int) -> None:
    """Remove what ``uid`` left where children share the machine (the uid level has no
    namespaces): files in the world-writable folders (``/tmp`` and the like), and its
    System V shared memory, semaphores and queues (``ipcrm --all`` run as the uid
    removes only its own)."""
    if shutil.which("ipcrm"):
        subprocess.run(["ipcrm", "--all"], user=uid, group=uid, extra_groups=[],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    for top in SHARED_WRITABLE:
        if os.path.isdir(top):
            subprocess.run(["find", top, "-xdev", "-mindepth", "1", "-user", str(uid),
                            "-delete"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)


# -- what the namespaces show ---------------------------------------------------------

def numpy_dirs() -> tuple[str, list[str]]:
    """(the folder that holds numpy, [numpy's package folder and its bundled libraries])."""
    package = os.path.dirname(os.path.realpath(np.__file__))
    parent = os.path.dirname(package)
    dirs = [package] + [os.path.join(parent, n) for n in sorted(os.listdir(parent))
                        if n.startswith("numpy.libs")
                        or (n.startswith("numpy-") and n.endswith(".libs"))]
    return parent, dirs


def interpreter() -> str:
    """The real interpreter binary (not a venv's symlink): the child runs it with ``-I -S``."""
    return os.path.realpath(sys.executable)


def _site_dirs() -> set[str]:
    """Every folder of installed packages this interpreter or the system has: this
    interpreter's and its base's, and every ``site-packages``/``dist-packages`` of a
    Python under ``/usr``, ``/usr/local`` and the prefixes (Debian's system Python keeps
    packages there that a venv's ``site`` does not list)."""
    dirs = set(site.getsitepackages()) | {site.getusersitepackages()}
    for scheme_vars in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        paths = sysconfig.get_paths(vars=scheme_vars)
        dirs |= {paths["purelib"], paths["platlib"]}
    for top in {"/usr", "/usr/local", sys.base_prefix, sys.base_exec_prefix}:
        for pattern in ("lib*/python3*/site-packages", "lib*/python3*/dist-packages",
                        "lib/python3/dist-packages"):
            dirs |= set(glob.glob(os.path.join(top, pattern)))
    return {os.path.realpath(d) for d in dirs if os.path.isdir(d)}


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


@dataclass
class _Mounts:
    """bwrap arguments, creating each missing parent folder world-traversable (bwrap
    would make it 0700, which the grading uid could not cross)."""

    args: list = field(default_factory=list)
    made: set = field(default_factory=set)
    bound: list = field(default_factory=list)
    hidden: list = field(default_factory=list)

    def _parents(self, path: str) -> None:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent not in self.made and not _under(parent, self.bound):
                self.args += ["--perms", "0755", "--dir", parent]
                self.made.add(parent)

    def bind(self, source: str, target: str | None = None) -> None:
        target = target or source
        self._parents(target)
        self.args += ["--ro-bind", source, target]
        self.bound.append(target)

    def hide(self, path: str) -> None:
        """An empty folder over ``path`` (only if something shows it); remounted
        read-only once everything is mounted (see :func:`bwrap_command`)."""
        if _under(path, self.bound):
            self.args += ["--perms", "0555", "--tmpfs", path]
            self.hidden.append(path)


def bwrap_command(inputs: Path, work_bytes: int, hidden, as_root: bool) -> list[str]:
    """The ``bwrap`` arguments (up to the ``--``) for a child whose inputs are in
    ``inputs``; ``hidden`` lists folders it must not see (compgraph's packages).

    What the child sees of the system is the same for every child (:func:`_system_view`);
    its own folders come last, then everything bwrap made writable is remounted
    read-only: without root, its tmpfs mounts (the hidden folders, /dev) would belong
    to the child's own uid."""
    view, hidden_paths = _system_view(as_root, tuple(hidden))
    sealed = [arg for path in (*hidden_paths, "/dev", "/") for arg in ("--remount-ro", path)]
    return [*view, "--ro-bind", str(inputs), SANDBOX_INPUTS,
            "--size", str(work_bytes), "--perms", "0777", "--tmpfs", SANDBOX_WORK,
            *sealed, "--chdir", SANDBOX_WORK, "--"]


@functools.lru_cache(maxsize=None)
def _system_view(as_root: bool, hidden: tuple) -> tuple[tuple, tuple]:
    """(the bwrap arguments that show the system: namespaces, ``/usr``, the interpreter,
    numpy, a fresh ``/proc`` and ``/dev``; the folders hidden under empty tmpfs), worked
    out once per grader: the file system they describe does not change between children."""
    m = _Mounts()
    m.args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    # As root, bwrap's own init (root, which the child cannot signal) stays pid 1: when
    # bwrap dies it takes the namespace down (setpriv's uid change clears the child's
    # own parent-death signal). Otherwise the child is pid 1 itself: no process of its
    # uid beside it to signal.
    if not as_root:
        m.args += ["--unshare-user", "--disable-userns", "--as-pid-1"]
    m.bind("/usr")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            m.args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            m.bind(top)
    if os.path.isfile("/etc/ld.so.cache"):
        m.bind("/etc/ld.so.cache")
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    for prefix in sorted(prefixes):
        if not _under(prefix, m.bound):
            m.bind(prefix)
    for program in (interpreter(), setpriv_path() if as_root else None):
        if program and not _under(program, m.bound):
            m.bind(program)
    for path in sorted(_site_dirs()) + sorted(os.path.realpath(h) for h in hidden):
        m.hide(path)
    for path in numpy_dirs()[1]:
        m.bind(path)
    m.args += ["--proc", "/proc", "--dev", "/dev"]
    return tuple(m.args), tuple(m.hidden)


def setpriv_path() -> str | None:
    """Where ``setpriv`` is (resolved on the grader's PATH: inside a sandbox the
    teacher's PATH may name folders the sandbox does not have)."""
    found = shutil.which("setpriv")
    return os.path.realpath(found) if found else None


def setpriv_command(slot: Slot) -> list[str]:
    """``setpriv`` arguments that run the rest of the command as the slot's uid and
    group, with no other groups, no capabilities and ``no_new_privs``."""
    return [setpriv_path() or "setpriv", f"--reuid={slot.uid}", f"--regid={slot.gid}",
            "--clear-groups", "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all",
            "--"]


@functools.lru_cache(maxsize=None)
def bwrap_works(as_root: bool) -> str | None:
    """None if a bwrap sandbox can start here, else why not (one line)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    probe = Path(os.path.realpath(os.path.dirname(__file__)))
    args = bwrap_command(probe, 1 << 20, [], as_root) + ["/bin/sh", "-c", "exit 0"]
    try:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap cannot make namespaces here: {why[-1] if why else done.returncode}"
    return None


def _readable_by_others(path: str) -> str | None:
    """None if any user can reach and read ``path``, else the first folder in the way
    (folders on the way need only be crossed; ``path`` itself must be readable)."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        p = str(Path(*parts[:i]))
        try:
            mode = os.stat(p).st_mode
        except OSError:
            return p
        last = i == len(parts)
        need = (0o005 if os.path.isdir(p) else 0o004) if last else 0o001
        if mode & need != need:
            return p
    return None


def uid_blocker() -> str | None:
    """None if a grading uid can run this interpreter with numpy, else what stops it."""
    if setpriv_path() is None:
        return "setpriv (util-linux) is not installed"
    for path in [interpreter(), sysconfig.get_paths()["stdlib"], *numpy_dirs()[1]]:
        blocked = _readable_by_others(path)
        if blocked:
            return (f"other users cannot read {blocked}, on the way to {path}: install "
                    f"Python where every user can read it")
    return None


@dataclass(frozen=True)
class Isolation:
    """The level chosen, and the warnings a teacher must see about it."""

    level: str
    warnings: tuple = ()

    @property
    def uses_uid(self) -> bool:
        """Children run as a grading uid of their own."""
        return self.level in ("uid+namespaces", "uid")

    @property
    def uses_namespaces(self) -> bool:
        """Children run inside bubblewrap's namespaces."""
        return self.level in ("uid+namespaces", "namespaces")


def choose(level: str | None = None, require: bool = False, hidden=()) -> Isolation:
    """The strongest level available (or ``level`` itself, if it is available).

    ``require`` refuses ``process only``. Raises IsolationError naming what is missing.
    ``hidden`` lists the reference's folders: at the ``uid`` level a warning says so
    when other users can read them.
    """
    if level is not None and level not in LEVELS:
        raise IsolationError(f"unknown isolation {level!r}; levels are {', '.join(LEVELS)}")
    root = is_root()
    available, why_not = [], {}
    if root:
        bw = bwrap_works(True)
        if bw is None:
            available.append("uid+namespaces")
        why_not["uid+namespaces"] = bw
        ub = uid_blocker()
        if ub is None:
            available.append("uid")
        why_not["uid"] = ub
    else:
        why_not["uid+namespaces"] = why_not["uid"] = "the grader is not root"
    bw_user = bwrap_works(False) if not root else "the grader is root (it uses a grading uid)"
    if bw_user is None:
        available.append("namespaces")
    why_not["namespaces"] = bw_user
    available.append("process only")
    if level is None:
        if root and available[0] == "process only":
            raise IsolationError(
                "grading as root needs bubblewrap or a grading uid, and neither works "
                f"here: {why_not['uid+namespaces']}; {why_not['uid']}. Install bubblewrap, "
                f"or grade as a normal user")
        level = available[0]
    elif level not in available:
        raise IsolationError(f"isolation {level!r} is not available here: {why_not[level]}")
    if require and level == "process only":
        raise IsolationError("--require-isolation refuses process-only isolation"
                             + ("" if root else f" (the only level here: {why_not['namespaces']}"
                                "; install bubblewrap, or grade as root)"))
    warnings = []
    if level == "process only":
        warnings.append("WARNING: process-only isolation: submissions run as you, with no "
                        "namespaces; a hostile one can read your files, start processes that "
                        "outlive it and tamper with the results. Install bubblewrap "
                        "(apt-get install bubblewrap) or grade as root.")
    elif level == "uid":
        # the packages, and a checkout's history beside them (an editable install)
        places = [*hidden, *(os.path.join(os.path.dirname(h), ".git") for h in hidden)]
        readable = [p for p in places if os.path.exists(p) and _readable_by_others(p) is None]
        if readable:
            warnings.append(f"WARNING: uid isolation, but other users can read compgraph's "
                            f"own source ({readable[0]}): a submission can copy the "
                            f"reference. chmod -R go-rwx it, or install bubblewrap.")
    return Isolation(level, tuple(warnings))
