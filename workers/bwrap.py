"""The build sandbox: bubblewrap's command line for one step, what this host can provide, and the
file ownership that lets an unprivileged step write its tree and the worker clean it afterwards.

Two ways, chosen by who the worker is:
- root: bwrap runs as root (it may then make every namespace without a user namespace) and the
  step runs as a dedicated unprivileged user (`worker.sandbox_user`, default nobody) through
  setpriv, with no capability, no_new_privs and an empty bounding set. The step's writable trees
  are handed to that user before the step; root reads and cleans them whatever the step did.
- not root (the Docker images): bwrap makes an unprivileged user namespace in which the worker's
  uid is mapped to itself, with no capability and no further user namespaces; everything the
  step writes is the worker's, and everything outside its mount view is gone.

Either way the step gets its own PID namespace (it sees only its own processes, and all of them
die when its first process exits), IPC and UTS namespaces, no network unless the project asks,
a private /tmp, and a mount view of the system (read-only) plus exactly the workspace's paths:
the data directory, the config, the home directory and every other tree are simply not there.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger("seriesbot.sandbox")

# The system, read-only. /etc is needed by almost everything (ld.so.cache, passwd, alternatives);
# secrets under it are hidden (see protect()) or root-only (shadow), which the step is not.
SYSTEM_DIRS = ("/usr", "/etc")
MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


@dataclass(frozen=True)
class Support:
    """What this host gives a step; `available` is False when untrusted code would run without
    the sandbox (the `reason` says why, for the log, `seriesbot status` and /metrics)."""

    available: bool
    mode: str  # "root" (bwrap as root, step as sandbox_user), "userns" (unprivileged), "none"
    user: str = ""
    reason: str = ""
    bwrap: str = ""
    cgroups: bool = False
    parts: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        if not self.available:
            return f"NO SANDBOX: {self.reason}"
        missing = [k for k, v in self.parts.items() if not v]
        return (f"bwrap {self.bwrap} ({self.mode}, {self.user})"
                + (f"; without: {', '.join(missing)}" if missing else ""))


@dataclass(frozen=True)
class Identity:
    """Who a step runs as when the worker is root."""

    uid: int
    gid: int
    name: str


_config: dict[str, object] = {"user": "nobody", "protected": ()}


def configure(sandbox_user: str, protected: tuple[Path, ...]) -> None:
    """Set by the worker at start from its settings: the step user (root workers only) and the
    bot's own paths (data directory, config, home) that must never appear in a step's view."""
    _config["user"] = sandbox_user or "nobody"
    _config["protected"] = tuple(Path(p) for p in protected)
    identity.cache_clear()
    support.cache_clear()


@functools.cache
def identity() -> Identity:
    name = str(_config["user"])
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        return Identity(entry.pw_uid, entry.pw_gid, entry.pw_name)
    except (KeyError, ValueError):
        if name.isdigit():
            return Identity(int(name), int(name), name)
        return Identity(65534, 65534, "nobody")


def is_root() -> bool:
    return os.geteuid() == 0


def _interpreters() -> list[Path]:
    """The worker's Python (virtualenv and the interpreter it was made from) when outside /usr:
    meson and a project's Python tests may need it; it holds no secret."""
    found: list[Path] = []
    for prefix in (sys.prefix, sys.base_prefix):
        p = Path(prefix).resolve()
        if not any(_inside(p, Path(d)) for d in SYSTEM_DIRS) and p not in found and p.is_dir():
            found.append(p)
    return found


def _visible_roots() -> list[Path]:
    return [*(Path(d) for d in SYSTEM_DIRS if Path(d).is_dir()), *_interpreters()]


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _ancestors(paths: list[Path]) -> list[Path]:
    """Directories to create (0755) in the sandbox's root before binding `paths` under them, so an
    unprivileged step can reach them by absolute path (on the host a parent may be 0700)."""
    seen: list[Path] = []
    for p in paths:
        for parent in reversed(p.parents):
            if str(parent) in ("/", "/tmp", "/var/tmp") or parent in seen:
                continue
            if any(_inside(parent, Path(d)) for d in SYSTEM_DIRS):
                continue
            seen.append(parent)
    return seen


def command(argv: list[str], *, cwd: Path, writable: list[Path], readonly: list[Path], network: bool,
            tmp_bytes: int) -> list[str]:
    """bwrap's argument list for one step (no shell anywhere: every path is one argument)."""
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "seriesbot-step"]
    if not network:
        args.append("--unshare-net")
    if is_root():
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # only for setpriv, which drops them
    else:
        args += ["--unshare-user", "--disable-userns"]
    for d in MERGED_USR:
        p = Path(d)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), d]
        elif p.is_dir():
            args += ["--ro-bind", d, d]
    for d in SYSTEM_DIRS:
        if Path(d).is_dir():
            args += ["--ro-bind", d, d]
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = str(max(tmp_bytes, 1 << 20))
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp", "--perms", "1777", "--size", size,
             "--tmpfs", "/var/tmp"]
    interpreters = _interpreters()
    for d in _ancestors([*interpreters, *writable, *readonly]):
        args += ["--perms", "0755", "--dir", str(d)]
    for p in interpreters:
        args += ["--ro-bind", str(p), str(p)]
    for hidden in _config["protected"]:  # type: ignore[attr-defined]
        hidden = Path(hidden)
        if hidden.exists() and any(_inside(hidden, r) for r in _visible_roots()):
            args += ["--tmpfs", str(hidden)] if hidden.is_dir() else ["--ro-bind", "/dev/null", str(hidden)]
    for p in writable:
        args += ["--bind", str(p), str(p)]
        git = p / ".git"
        if git.exists() or git.is_symlink():
            # the trusted git outside reads this (hooks path, fsmonitor, gitdir): never the step's to change
            args += ["--ro-bind", str(git), str(git)]
    for p in readonly:
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    args += ["--chdir", str(cwd), "--"]
    if is_root():
        who = identity()
        args += [shutil.which("setpriv") or "setpriv", f"--reuid={who.uid}", f"--regid={who.gid}",
                 "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
    return args + list(argv)


def prepare_ownership(writable: list[Path]) -> int:
    """Root worker: hand the step's writable trees to the step user. Everything beneath each root
    becomes theirs, except a git checkout's own top directory and `.git` (git refuses a checkout
    owned by someone else, and the step must not change what the trusted git reads): that top
    directory keeps its owner and gets the step user's group with write permission. Run while no
    step runs (a finished step's processes are all dead), so nothing can race the walk; links are
    changed, never their targets, and a hard-linked file (it may be a file outside the tree) is
    left alone. Returns the bytes allocated under the trees (the same walk: the write cap's base)."""
    who = identity() if is_root() else None
    total = 0
    seen: set[tuple[int, int]] = set()
    for root in writable:
        root.mkdir(parents=True, exist_ok=True)
        git_tree = (root / ".git").exists() or (root / ".git").is_symlink()
        top = root.lstat()
        if who is not None and git_tree:
            if top.st_gid != who.gid:
                os.lchown(root, -1, who.gid)
            os.chmod(root, (top.st_mode & 0o7777) | 0o2070)
        elif who is not None and (top.st_uid != who.uid or top.st_gid != who.gid):
            os.lchown(root, who.uid, who.gid)
        stack = [str(root)]
        while stack:
            here = stack.pop()
            try:
                entries = list(os.scandir(here))
            except OSError:
                continue
            for entry in entries:
                if git_tree and here == str(root) and entry.name == ".git":
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                if is_dir:
                    stack.append(entry.path)
                linked = st.st_nlink > 1 and not is_dir
                if linked and (st.st_dev, st.st_ino) in seen:
                    continue
                if linked:
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if who is None or (st.st_uid == who.uid and st.st_gid == who.gid) or linked:
                    continue
                os.lchown(entry.path, who.uid, who.gid)
    return total


def _version() -> str:
    try:
        out = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().removeprefix("bubblewrap ").strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


PROBE = ("import os, socket, sys\n"
         "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
         "try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2); net = 1\n"
         "except OSError:\n    net = 0\n"
         "open(sys.argv[2] + '/probe', 'w').write('x')\n"
         "print(os.getuid(), len(pids), net, int(os.path.exists(sys.argv[3])))\n")


@functools.cache
def support() -> Support:
    """Try the real thing once per process: a step in the sandbox that counts the processes it
    sees, tries the network, writes its tree and looks for a protected path."""
    from workers import cgroups

    has_cgroups = cgroups.available()
    if shutil.which("bwrap") is None:
        return Support(False, "none", reason="bubblewrap (bwrap) is not installed", cgroups=has_cgroups)
    if is_root() and shutil.which("setpriv") is None:
        return Support(False, "none", reason="setpriv (util-linux) is not installed", cgroups=has_cgroups)
    version = _version()
    import socket

    with tempfile.TemporaryDirectory(prefix="seriesbot-probe-") as tmp, socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        work, secret = Path(tmp) / "work", Path(tmp) / "secret"
        work.mkdir()
        secret.write_text("x")
        os.chmod(tmp, 0o700)
        prepare_ownership([work])
        saved = _config["protected"]
        _config["protected"] = (*saved, secret)  # type: ignore[misc]
        try:
            argv = command([sys.executable, "-c", PROBE, str(server.getsockname()[1]), str(work), str(secret)],
                           cwd=work, writable=[work], readonly=[], network=False, tmp_bytes=1 << 20)
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": SYSTEM_PATH},
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Support(False, "none", reason=f"bwrap could not start: {exc}", bwrap=version, cgroups=has_cgroups)
        finally:
            _config["protected"] = saved
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return Support(False, "none", reason=f"bwrap refused here: {why[:300]}", bwrap=version,
                           cgroups=has_cgroups)
        uid, seen, net, secret_seen = (int(x) for x in done.stdout.split()[:4])
    mode = "root" if is_root() else "userns"
    user = (f"uid {identity().uid} ({identity().name})" if is_root()
            else f"the worker's uid {os.getuid()} in a user namespace")
    parts = {
        "own user": uid != os.getuid() or not is_root(),
        "pid namespace": seen <= 3,
        "no network": net == 0,
        "mount view": not secret_seen,
        # without them the caps are RLIMIT_NPROC (plus a task count) and RLIMIT_AS
        "pids cgroup": has_cgroups,
        "memory cgroup": has_cgroups,
    }
    return Support(True, mode, user=user, bwrap=version, cgroups=has_cgroups, parts=parts)
