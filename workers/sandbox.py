"""The only subprocess runner for steps that run someone else's code (and for git).

Every command is an argument list (never a shell string), runs in its own process group with a
wall-time limit, an output cap, a memory limit (RLIMIT_AS, and a memory cgroup where we may make one),
a process cap (a pids cgroup; RLIMIT_NPROC, which the kernel does not apply to root, otherwise), and
without network (a fresh network namespace via `unshare -n`, or
`unshare -rn` for an unprivileged user) where the OS allows it. What could not be enforced is logged
once as a warning. A timeout or an output flood kills the whole group.
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

from bot.records import CommandResult
from workers import cgroups

log = logging.getLogger("seriesbot.sandbox")


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0
    output_cap: int = 20 * 1024 * 1024
    memory_mb: int = 8192
    max_processes: int = 4096
    network: bool = True


@functools.cache
def network_isolation_prefix() -> tuple[str, ...] | None:
    """The argv prefix that gives a command no network, or None where this host cannot."""
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


def _limit_resources(limits: Limits, group: cgroups.StepGroup | None = None) -> None:
    # runs in the child between fork and exec
    if group is not None:
        group.join()
    if limits.memory_mb > 0:
        cap = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if limits.max_processes > 0 and os.geteuid() != 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
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
    """Copies a step's output to its log and stops writing at the cap (then signals the runner,
    which kills the step): the cap holds however fast the step writes."""

    def __init__(self, source: IO[bytes], sink: IO[bytes], cap: int) -> None:
        super().__init__(daemon=True)
        self.source, self.sink, self.cap = source, sink, cap
        self.capped = threading.Event()

    def run(self) -> None:
        written = 0
        while True:
            chunk = self.source.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                break
            if self.cap and written + len(chunk) > self.cap:
                self.sink.write(chunk[: max(self.cap - written, 0)])
                written = self.cap
                self.capped.set()
                continue  # keep draining so the writer is not blocked before it is killed
            self.sink.write(chunk)
            written += len(chunk)
        self.sink.flush()


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
    (its tree, build directory, compiler cache; the mirror its objects come from); they are meant
    to be its whole view of the bot's files (see steps.Workspace)."""
    argv = tuple(str(a) for a in argv)
    if not argv:
        raise ValueError("empty command")
    full = list(argv)
    if not limits.network:
        prefix = network_isolation_prefix()
        if prefix:
            full = [*prefix, *argv]
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    timed_out = False
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
        delay = 0.005
        while True:
            try:
                returncode = proc.wait(timeout=delay)
                break
            except subprocess.TimeoutExpired:
                pass
            delay = min(delay * 2, 0.25)
            if time.monotonic() - started > limits.timeout:
                timed_out = True
            if timed_out or copier.capped.is_set():
                _kill_group(proc.pid)
                returncode = proc.wait()
                break
        _kill_group(proc.pid)  # whatever the command left running in its group
        if group is not None:
            group.kill_all()  # and whatever escaped the group, so the pipe closes
        copier.join(timeout=10)
    capped = copier.capped.is_set()
    duration = time.monotonic() - started
    out_of_memory = False
    if group is not None:
        out_of_memory = returncode != 0 and group.memory_peak_exceeded()
        group.remove()  # kills what escaped the process group, too
    why = None
    if timed_out:
        why = f"timed out after {limits.timeout:.0f} s"
    elif capped:
        why = f"output over {limits.output_cap} bytes"
    elif out_of_memory:
        why = f"out of memory (limit {limits.memory_mb} MB)"
    if why:
        with open(output_path, "ab") as out:
            out.write(f"\n[seriesbot: killed: {why}]\n".encode())
    return CommandResult(argv, returncode, duration, str(output_path), timed_out=timed_out, output_capped=capped,
                         killed_reason=why)


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
