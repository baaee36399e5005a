"""Build and test steps from the project's config, run through sandbox.run, with what a person
needs extracted: the first compiler errors (file:line) and the failing tests from meson's
testlog.json (not scraped text)."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bot.records import CommandResult, CompilerMessage, TestOutcome
from bot.settings import BuildSettings
from workers import sandbox
from workers.bwrap import SYSTEM_PATH

COMPILER_RE = re.compile(
    r"^(?P<path>[^\s:][^:\n]*?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<kind>fatal error|error|warning): (?P<text>.+)$",
    re.M,
)
LINKER_RE = re.compile(r"^(?P<text>.*(?:undefined reference to|ld returned \d+ exit status|cannot find -l).*)$", re.M)
FAILING = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}
TESTLOG_MAX = 64 * 1024 * 1024


@dataclass(frozen=True)
class Workspace:
    """Where a step that runs the tree's code works, and everything it may touch: `src` and `build`
    are writable; `writable` names the other paths it may write (a compiler cache), `readonly` what it
    may read beyond the system (the bare mirror a checkout borrows its objects from, submodule
    mirrors); `env` adds variables to the step's environment. The sandbox makes this the step's whole
    view of the bot's files, so a new path a step needs is added here, never special-cased there."""

    src: Path
    build: Path
    writable: tuple[Path, ...] = ()
    readonly: tuple[Path, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def with_build(self, src: Path, build: Path) -> Workspace:
        return Workspace(src, build, self.writable, self.readonly, self.env)


@dataclass
class StepOutcome:
    status: str  # ok, fail, error (infrastructure), skip
    duration: float = 0.0
    log: str = ""
    messages: list[CompilerMessage] = field(default_factory=list)
    tests: list[TestOutcome] = field(default_factory=list)
    note: str = ""

    @property
    def failed_tests(self) -> list[TestOutcome]:
        return [t for t in self.tests if t.status in FAILING]


def expand(argv: tuple[str, ...], src: Path, build: Path) -> list[str]:
    """Placeholders are replaced per argument: no shell, no word splitting of values."""
    jobs = str(os.cpu_count() or 1)
    return [a.replace("{src}", str(src)).replace("{build}", str(build)).replace("{jobs}", jobs) for a in argv]


def limits_for(cfg: BuildSettings, timeout: float) -> sandbox.Limits:
    return sandbox.Limits(timeout=timeout, output_cap=cfg.output_cap, memory_mb=cfg.memory_mb,
                          max_processes=cfg.max_processes, network=cfg.network, max_write_mb=cfg.max_write_mb,
                          require_sandbox=cfg.require_sandbox)


def _env(ws: Workspace) -> dict[str, str]:
    """A step's environment, built from scratch: nothing of the worker's own (no secret, no
    DATABASE_URL, no SERIESBOT_*) except the workspace's variables. PATH is the system's plus the
    worker's virtualenv (meson may come from there); HOME and TMPDIR are the step's private /tmp."""
    venv_bin = Path(sys.prefix) / "bin"
    path = f"{venv_bin}:{SYSTEM_PATH}" if sys.prefix != sys.base_prefix and venv_bin.is_dir() else SYSTEM_PATH
    env = {
        "PATH": path, "HOME": "/tmp", "TMPDIR": "/tmp", "USER": "seriesbot-step", "LOGNAME": "seriesbot-step",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NINJA_STATUS": "[%f/%t] ",
        "MESON_TESTTHREADS": str(os.cpu_count() or 1),
        # git inside the step (a tree's own scripts, libvirt's syntax-check) reads a checkout whose
        # top directory belongs to the worker: only reads, and .git is read-only in the sandbox
        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
    }
    env.update(dict(ws.env))
    return env


def _run(argv: list[str], ws: Workspace, log: Path, limits: sandbox.Limits) -> CommandResult:
    """One step of the tree's code, through the sandbox, with the workspace as its view."""
    return sandbox.run(argv, cwd=ws.src, output_path=log, limits=limits, env=_env(ws),
                       writable=(ws.src, ws.build, *ws.writable), readonly=ws.readonly)


def _normalise_path(path: str, src: Path, build: Path) -> str:
    p = Path(path)
    if not p.is_absolute():
        p = (build / p).resolve()
    try:
        return str(p.relative_to(src.resolve()))
    except ValueError:
        return path


def compiler_messages(text: str, src: Path, build: Path, limit: int = 20) -> list[CompilerMessage]:
    found: list[CompilerMessage] = []
    for m in COMPILER_RE.finditer(text):
        kind = "error" if "error" in m.group("kind") else "warning"
        found.append(CompilerMessage(_normalise_path(m.group("path"), src, build), int(m.group("line")),
                                     int(m.group("col") or 0), kind, m.group("text").strip()))
        if len(found) >= limit:
            break
    if not any(f.kind == "error" for f in found):
        for m in LINKER_RE.finditer(text):
            found.append(CompilerMessage("", 0, 0, "error", m.group("text").strip()[:300]))
            break
    return found


def _outcome(result: CommandResult, what: str) -> StepOutcome:
    if result.infra_error:
        return StepOutcome("error", result.duration, result.output_path, note=result.infra_error)
    if result.killed_reason:
        return StepOutcome("fail", result.duration, result.output_path, note=f"{what} killed: {result.killed_reason}")
    return StepOutcome("ok" if result.returncode == 0 else "fail", result.duration, result.output_path)


def needs_setup(build: Path) -> bool:
    return not (build / "build.ninja").exists() or not (build / "meson-private" / "coredata.dat").exists()


def run_build(cfg: BuildSettings, ws: Workspace, log_dir: Path, name: str) -> StepOutcome:
    """Incremental build in the persistent build directory; `setup` only when it has none yet
    (ninja re-runs meson by itself when a meson.build changed)."""
    src, build = ws.src, ws.build
    setup_duration = 0.0
    if needs_setup(build) and cfg.setup:
        if build.exists():
            import shutil

            shutil.rmtree(build)
        result = _run(expand(cfg.setup, src, build), ws, log_dir / f"{name}-setup.log",
                      limits_for(cfg, cfg.setup_timeout))
        setup_duration = result.duration
        outcome = _outcome(result, "configure")
        if outcome.status != "ok":
            text = sandbox.tail(result.output_path, 20000)
            outcome.messages = compiler_messages(text, src, build)
            outcome.note = outcome.note or "configure failed"
            return outcome
    result = _run(expand(cfg.build, src, build), ws, log_dir / f"{name}-build.log", limits_for(cfg, cfg.build_timeout))
    outcome = _outcome(result, "build")
    outcome.duration += setup_duration
    text = sandbox.tail(result.output_path, 200000)
    outcome.messages = compiler_messages(text, src, build)
    return outcome


def read_testlog(build: Path, tail_bytes: int = 1500) -> list[TestOutcome]:
    """meson's meson-logs/testlog.json: one JSON object per test."""
    path = build / "meson-logs" / "testlog.json"
    tests: list[TestOutcome] = []
    try:
        # written by the step: it may be a link to a file the worker can read and the step cannot
        if not path.resolve().is_relative_to(build.resolve()) or not path.resolve().is_file():
            return tests
        with open(path, "rb") as f:
            lines = f.read(TESTLOG_MAX).decode("utf-8", "replace").splitlines()
    except OSError:
        return tests
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        output = (entry.get("stdout") or "") + (entry.get("stderr") or "")
        tests.append(TestOutcome(
            name=str(entry.get("name", "?")), status=str(entry.get("result", "ERROR")),
            duration=float(entry.get("duration") or 0.0), log_tail=output[-tail_bytes:],
        ))
    return tests


def run_tests(cfg: BuildSettings, ws: Workspace, log_dir: Path, name: str,
              only: list[str] | None = None) -> StepOutcome:
    src, build = ws.src, ws.build
    testlog = build / "meson-logs" / "testlog.json"
    if testlog.exists():
        testlog.unlink()
    argv = expand(cfg.test, src, build) + list(only or [])
    result = _run(argv, ws, log_dir / f"{name}-test.log", limits_for(cfg, cfg.test_timeout))
    outcome = _outcome(result, "tests")
    outcome.tests = read_testlog(build)
    if outcome.status == "fail" and not outcome.failed_tests and not outcome.note:
        outcome.note = "the test command failed without a failing test in testlog.json"
    if outcome.status == "ok" and outcome.failed_tests:
        outcome.status = "fail"
    return outcome
