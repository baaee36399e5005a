"""The only subprocess runner for steps that run someone else's code (and for git).

Every step is an argument list (never a shell string) run inside the build sandbox (bubblewrap,
see workers/bwrap.py: its own unprivileged user, PID, mount, IPC and UTS namespaces, no network, a
private /tmp, only its workspace visible) with a wall-time limit, an output cap, a memory limit
(RLIMIT_AS, and a memory cgroup where we may make one), a process cap (a pids cgroup; RLIMIT_NPROC
for the step's user otherwise), a cap on what it writes (RLIMIT_FSIZE per file, and a watched size
of its writable trees), and no core dumps. A limit that is hit kills the whole step and says so
in its log and result. Where the host cannot make the sandbox, a project with
`build.require_sandbox` refuses to run the step (an infrastructure error, never a pass); others
run it with what remains (network namespace by `unshare`, rlimits, cgroups), logged once.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot import health, redact
from bot.errors import InfraError
from bot.records import CommandResult
from bot.settings import Settings
from workers import bwrap, cgroups
from workers.diskcap import DiskWatch

log = logging.getLogger("seriesbot.sandbox")
FORK_REFUSALS = 50  # forks refused at the process cap before the step counts as a fork bomb


class SandboxUnavailable(InfraError):
    """The project requires the sandbox and this host cannot make it."""


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0
    output_cap: int = 20 * 1024 * 1024
    memory_mb: int = 8192
    max_processes: int = 4096
    network: bool = True
    max_write_mb: int = 0  # what a step may add to its writable trees; 0: no cap
    require_sandbox: bool = False


@functools.cache
def network_isolation_prefix() -> tuple[str, ...] | None:
    """Without bwrap: the argv prefix that gives a command no network, or None where this host cannot."""
    unshare = shutil.which("unshare")
    if unshare is None:
        log.warning("event=no-network-isolation reason='unshare not installed'")
        return None
    for prefix in ((unshare, "--net", "--"), (unshare, "--map-root-user", "--net", "--")):
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return prefix
    log.warning("event=no-network-isolation reason='unshare refused here; steps keep network'")
    return None


@functools.cache
def _warn_unsandboxed(reason: str) -> None:
    log.warning("event=no-sandbox reason=%r action='steps run with rlimits, cgroups and unshare only'", reason)


def start(settings: Settings) -> bwrap.Support:
    """At worker start: the step user, the bot's paths a step must never see, then one real probe;
    said in the log (a warning naming what is missing) and in the heartbeat (`seriesbot status`)."""
    protected = [settings.data_dir, settings.config_path.parent, Path.home()]
    bwrap.configure(settings.worker.sandbox_user, tuple(protected))
    found = bwrap.support()
    refusing = sorted(p.name for p in settings.projects.values() if p.build.require_sandbox)
    if found.available:
        missing = [k for k, v in found.parts.items() if not v]
        log.info("event=sandbox mode=%s user=%r bwrap=%s without=%s", found.mode, found.user, found.bwrap,
                 ",".join(missing) or "-")
    else:
        log.warning("event=sandbox-missing reason=%r refusing_projects=%s others='run with rlimits only'",
                    found.reason, ",".join(refusing) or "-")
    health.CAPABILITIES["sandbox"] = {**found.as_dict(), "summary": found.summary(), "refusing": refusing}
    return found


def _limit_resources(limits: Limits, group: cgroups.StepGroup | None = None) -> None:
    # runs in the child between fork and exec
    if group is not None:
        group.join()
    if limits.memory_mb > 0:
        cap = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if limits.max_processes > 0:
        # counted per user: the step's own under a root worker (setpriv keeps the limit), the
        # worker's own otherwise; the kernel does not apply it to root, the pids cgroup does
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    if limits.max_write_mb > 0:  # one file a little over the cap: the watch then reports it
        size = (limits.max_write_mb + 1) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig == signal.SIGTERM:
            time.sleep(0.2)


class _OutputCopier(threading.Thread):
    """Copies a step's output to its log, with the bot's secrets redacted, and stops writing at
    the cap (then signals the runner, which kills the step): the cap holds however fast the step
    writes."""

    def __init__(self, source: IO[bytes], sink: IO[bytes], cap: int) -> None:
        super().__init__(daemon=True)
        self.source, self.sink, self.cap = source, sink, cap
        self.capped = threading.Event()
        self.redactor = redact.current().stream()

    def run(self) -> None:
        written = 0
        while True:
            chunk = self.source.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                break
            if self.capped.is_set():
                continue  # keep draining so the writer is not blocked before it is killed
            chunk = self.redactor.feed(chunk)
            if self.cap and written + len(chunk) > self.cap:
                self.sink.write(chunk[: max(self.cap - written, 0)])
                written = self.cap
                self.capped.set()
                continue
            self.sink.write(chunk)
            written += len(chunk)
        if not self.capped.is_set():
            self.sink.write(self.redactor.flush())
        self.sink.flush()


def _sandboxed(argv: tuple[str, ...], cwd: Path, limits: Limits, writable: list[Path],
               readonly: list[Path]) -> tuple[list[str], int] | None:
    """The full command line in the sandbox and the writable trees' size, or None where this host
    cannot make one."""
    support = bwrap.support()
    if not support.available:
        if limits.require_sandbox:
            raise SandboxUnavailable(f"no build sandbox on this worker ({support.reason}); the project sets "
                                     "build.require_sandbox = true, so untrusted code is not run here")
        _warn_unsandboxed(support.reason)
        return None
    for path in writable:
        path.mkdir(parents=True, exist_ok=True)
    size = bwrap.prepare_ownership(writable)
    tmp_bytes = (limits.max_write_mb or 4096) * 1024 * 1024
    return bwrap.command(list(argv), cwd=cwd, writable=writable, readonly=readonly, network=limits.network,
                         tmp_bytes=tmp_bytes), size


def _why(timed_out: bool, capped: bool, wrote_over: bool, forked: bool, out_of_memory: bool, file_too_big: bool,
         limits: Limits) -> str | None:
    if timed_out:
        return f"timed out after {limits.timeout:.0f} s"
    if capped:
        return f"output over {limits.output_cap} bytes"
    if wrote_over or file_too_big:
        return f"wrote over {limits.max_write_mb} MB" + (" (one file)" if file_too_big and not wrote_over else "")
    if forked:
        return f"hit the process limit ({limits.max_processes} processes)"
    if out_of_memory:
        return f"out of memory (limit {limits.memory_mb} MB)"
    return None


def run(
    argv: list[str] | tuple[str, ...],
    *,
    cwd: str | Path,
    output_path: str | Path,
    limits: Limits,
    env: dict[str, str] | None = None,
    stdin_path: str | Path | None = None,
    writable: tuple[str | Path, ...] = (),
    readonly: tuple[str | Path, ...] = (),
) -> CommandResult:
    """Run one step. `writable` and `readonly` are the bot's paths the step may write and read
    (its tree, build directory, compiler cache; the mirror its objects come from): in the sandbox
    they are its whole view of the bot's files (the working directory is writable when `writable`
    is empty). Raises SandboxUnavailable when the limits require a sandbox this host lacks."""
    argv = tuple(str(a) for a in argv)
    if not argv:
        raise ValueError("empty command")
    cwd = Path(cwd).resolve()
    rw = [Path(p).resolve() for p in (writable or (cwd,))]
    ro = [Path(p).resolve() for p in readonly]
    sandboxed = _sandboxed(argv, cwd, limits, rw, ro)
    size: int | None = None
    if sandboxed is not None:
        full, size = sandboxed
    else:
        full = list(argv)
        if not limits.network:
            prefix = network_isolation_prefix()
            if prefix:
                full = [*prefix, *argv]
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    watch = DiskWatch(rw, limits.max_write_mb * 1024 * 1024, base=size) if limits.max_write_mb > 0 else None
    started = time.monotonic()
    group = cgroups.create(limits.max_processes, limits.memory_mb) if limits.max_processes and limits.memory_mb \
        else None
    with open(output_path, "wb") as out, open(stdin_path or os.devnull, "rb") as stdin:
        try:
            proc = subprocess.Popen(
                full, cwd=str(cwd), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True,
                preexec_fn=functools.partial(_limit_resources, limits, group),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            if group is not None:
                group.remove()
            return CommandResult(argv, None, time.monotonic() - started, str(output_path),
                                 infra_error=f"could not start {argv[0]}: {exc}")
        assert proc.stdout is not None
        copier = _OutputCopier(proc.stdout, out, limits.output_cap)
        copier.start()
        code, timed_out, wrote_over, forked = _wait(proc, limits, started, copier, watch, group)
        _kill_group(proc.pid)  # whatever the command left running in its group
        if group is not None:
            group.kill_all()  # and whatever escaped the group, so the pipe closes
        copier.join(timeout=10)
    capped = copier.capped.is_set()
    duration = time.monotonic() - started
    out_of_memory = False
    if group is not None:
        out_of_memory = code != 0 and group.memory_peak_exceeded()
        forked = forked or (code != 0 and group.pids_limit_hits() >= FORK_REFUSALS)
        group.remove()  # kills what escaped the process group, too
    file_too_big = code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ)
    if watch is not None and not wrote_over:
        wrote_over = watch.over(final=True)
    why = _why(timed_out, capped, wrote_over, forked, out_of_memory, file_too_big, limits)
    if watch is not None and (wrote_over or file_too_big):
        freed = watch.remove_written()
        log.warning("event=step-wrote-too-much argv0=%s grown=%d freed=%d", argv[0], watch.grown, freed)
    if why:
        with open(output_path, "ab") as out:
            out.write(f"\n[seriesbot: killed: {why}]\n".encode())
    return CommandResult(argv, code, duration, str(output_path), timed_out=timed_out, output_capped=capped,
                         killed_reason=why)


class _TaskCount:
    """Without a pids cgroup (an unprivileged worker) the process cap is RLIMIT_NPROC, which counts
    every task of the worker's uid (the step's run under it, in a user namespace). Counted once a
    second: held at the cap for three seconds is a fork bomb, stopped and named, not left to spin
    until the wall-time limit."""

    def __init__(self) -> None:
        self.uid, self.at_cap, self.next = os.getuid(), 0, time.monotonic() + 1.0

    def forked(self, cap: int) -> bool:
        if time.monotonic() < self.next or cap <= 0:
            return False
        self.next = time.monotonic() + 1.0
        count = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        count += len(os.listdir(f"/proc/{entry}/task"))
                except OSError:
                    continue
        self.at_cap = self.at_cap + 1 if count >= cap - 2 else 0
        return self.at_cap >= 3


def _wait(proc: subprocess.Popen[bytes], limits: Limits, started: float, copier: _OutputCopier,
          watch: DiskWatch | None, group: cgroups.StepGroup | None) -> tuple[int, bool, bool, bool]:
    """Wait for the step, polling its limits; kill it when one is hit. Returns (exit code,
    timed out, wrote over the cap, fork bomb)."""
    delay = 0.005
    timed_out = wrote_over = forked = False
    counter = _TaskCount() if group is None and not bwrap.is_root() and limits.max_processes > 0 else None
    while True:
        try:
            return proc.wait(timeout=delay), timed_out, wrote_over, forked
        except subprocess.TimeoutExpired:
            pass
        delay = min(delay * 2, 0.25)
        timed_out = time.monotonic() - started > limits.timeout
        wrote_over = watch is not None and watch.over()
        forked = (group is not None and group.pids_limit_hits() >= FORK_REFUSALS) or \
            (counter is not None and counter.forked(limits.max_processes))
        if timed_out or wrote_over or forked or copier.capped.is_set():
            _kill_group(proc.pid)
            return proc.wait(), timed_out, wrote_over, forked


def tail(path: str | Path, max_bytes: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass(frozen=True)
class Captured:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def capture(
    argv: list[str] | tuple[str, ...],
    *,
    cwd: str | Path | None = None,
    timeout: float = 300.0,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
) -> Captured:
    """A short trusted command (git) whose output we read: same group/time limits, output in memory."""
    argv = [str(a) for a in argv]
    data = input.encode("utf-8", "surrogateescape") if isinstance(input, str) else input
    try:
        proc = subprocess.Popen(
            argv, cwd=None if cwd is None else str(cwd), stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
        )
    except OSError as exc:
        return Captured(127, "", f"could not start {argv[0]}: {exc}")
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        return Captured(124, out.decode("utf-8", "replace"), err.decode("utf-8", "replace") + f"\ntimed out after {timeout} s")
    return Captured(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
