"""Build and test steps from the project's config, run through sandbox.run, with what a person
needs extracted (workers/buildlog.py): every compiler, linker and configure error of the whole log,
and the failing tests from meson's testlog.json (not scraped text)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bot.records import CommandResult, CompilerMessage, TestOutcome
from bot.settings import BuildSettings
from workers import buildlog, ccache, sandbox
from workers.bwrap import SYSTEM_PATH

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
    setup_duration: float = 0.0  # when this step had to configure the build directory first
    setup_log: str = ""  # that configure's own log (meson's output, a tree's configure-time scripts)
    argv: dict[str, list[str]] = field(default_factory=dict)  # step -> the argv that ran ({src}/{build} kept)
    report: buildlog.BuildReport | None = None  # counts and failed targets of the whole log
    cache: ccache.CacheStats | None = None  # the compiler cache's hits and misses in this step

    @property
    def failed_tests(self) -> list[TestOutcome]:
        return [t for t in self.tests if t.status in FAILING]


def config_files(cfg: BuildSettings, config_dir: Path) -> tuple[Path, ...]:
    """The files of the bot's configuration folder that the build commands name (`{config}/x.ini`,
    as `--native-file=...` or a separate argument): a step reads those, and nothing else of the
    folder (which may hold secrets), so they join its workspace read-only."""
    found: set[Path] = set()
    for arg in (*cfg.setup, *cfg.build, *cfg.test):
        for part in arg.split("="):
            path = Path(part)
            if path.is_absolute() and path.is_relative_to(config_dir) and path.is_file():
                found.add(path)
    return tuple(sorted(found))


def jobs() -> int:
    """The parallelism `{jobs}` stands for: the CPUs this process may use (a container's, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def expand(argv: tuple[str, ...], src: Path, build: Path, *, keep_paths: bool = False) -> list[str]:
    """Placeholders are replaced per argument: no shell, no word splitting of values. With
    `keep_paths`, {src} and {build} stay (what a report turns into a reader's own paths) and only
    {jobs} becomes the real value."""
    n = str(jobs())
    if keep_paths:
        return [a.replace("{jobs}", n) for a in argv]
    return [a.replace("{src}", str(src)).replace("{build}", str(build)).replace("{jobs}", n) for a in argv]


def build_argv(cfg: BuildSettings) -> tuple[str, ...]:
    """The build command, with ninja's `-k 0` when the project keeps going after a failure."""
    argv = cfg.build
    if cfg.keep_going and argv and Path(argv[0]).name in ("ninja", "samu") and not any(
            a == "-k" or a.startswith("-k") for a in argv[1:]):
        return (*argv, "-k", "0")
    return argv


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
        "MESON_TESTTHREADS": str(jobs()),
        # git inside the step (a tree's own scripts, libvirt's syntax-check) reads a checkout whose
        # top directory belongs to the worker: only reads, and .git is read-only in the sandbox
        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
    }
    env.update(dict(ws.env))
    env.update(ccache.stats_env(ws.env, ws.build))
    return env


def _run(argv: list[str], ws: Workspace, log: Path, limits: sandbox.Limits) -> CommandResult:
    """One step of the tree's code, through the sandbox, with the workspace as its view."""
    return sandbox.run(argv, cwd=ws.src, output_path=log, limits=limits, env=_env(ws),
                       writable=(ws.src, ws.build, *ws.writable), readonly=ws.readonly)


def compiler_messages(text: str, src: Path, build: Path, limit: int = 50) -> list[CompilerMessage]:
    """Errors first, then warnings, of a log's text (see buildlog.parse_build_log)."""
    report = buildlog.parse_build_log(text.splitlines(), buildlog.Paths(src, build), limit, limit)
    return report.messages


def _outcome(result: CommandResult, what: str) -> StepOutcome:
    if result.infra_error:
        return StepOutcome("error", result.duration, result.output_path, note=result.infra_error)
    if result.killed_reason:
        return StepOutcome("fail", result.duration, result.output_path, note=f"{what} killed: {result.killed_reason}")
    return StepOutcome("ok" if result.returncode == 0 else "fail", result.duration, result.output_path)


SETUP_STAMP = ".seriesbot-setup.json"  # the setup argv a build directory was made with


def needs_setup(build: Path, setup: list[str] | None = None) -> bool:
    """No configured build directory yet, or one made with other setup arguments (the project's
    options changed: its old build directory would go on building the old configuration)."""
    if not (build / "build.ninja").exists() or not (build / "meson-private" / "coredata.dat").exists():
        return True
    if setup is None:
        return False
    try:
        return json.loads((build / SETUP_STAMP).read_text()) != setup
    except (OSError, ValueError):
        return True


def run_build(cfg: BuildSettings, ws: Workspace, log_dir: Path, name: str) -> StepOutcome:
    """Incremental build in the persistent build directory; `setup` only when it has none yet
    (ninja re-runs meson by itself when a meson.build changed). A configure failure is its own:
    meson's `ERROR:` and the lines before it, from the setup log."""
    src, build = ws.src, ws.build
    paths = buildlog.Paths(src, build)
    argv = {"setup": expand(cfg.setup, src, build, keep_paths=True)} if cfg.setup else {}
    setup_duration, setup_log = 0.0, ""
    setup = expand(cfg.setup, src, build)
    if cfg.setup and needs_setup(build, setup):
        if build.exists():
            shutil.rmtree(build)
        result = _run(setup, ws, log_dir / f"{name}-setup.log", limits_for(cfg, cfg.setup_timeout))
        if result.ok:
            (build / SETUP_STAMP).write_text(json.dumps(setup))
        outcome = _outcome(result, "configure")
        outcome.argv, outcome.setup_duration, outcome.duration = argv, result.duration, 0.0
        outcome.setup_log = result.output_path
        if outcome.status != "ok":
            outcome.messages = buildlog.parse_setup_log(buildlog.read_lines(result.output_path), paths)
            if not outcome.messages:  # a failed check: what the compiler said, else the log's end
                outcome.messages = buildlog.parse_build_log(buildlog.read_lines(result.output_path), paths).errors
            outcome.note = outcome.note or "configure failed"
            return outcome
        setup_duration, setup_log = result.duration, result.output_path
    argv["build"] = expand(build_argv(cfg), src, build, keep_paths=True)
    ccache.reset_stats(build)
    result = _run(expand(build_argv(cfg), src, build), ws, log_dir / f"{name}-build.log", limits_for(cfg, cfg.build_timeout))
    outcome = _outcome(result, "build")
    outcome.argv, outcome.setup_duration, outcome.setup_log = argv, setup_duration, setup_log
    outcome.report = buildlog.parse_build_log(buildlog.read_lines(result.output_path), paths)
    outcome.messages = outcome.report.messages
    outcome.cache = ccache.read_stats(build)
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
        # meson names a test "project:suite / name" (older versions also list "suite")
        suites = entry.get("suite") or []
        head, sep, _ = str(entry.get("name", "")).partition(" / ")
        suite = str(suites[0]) if isinstance(suites, list) and suites else (head if sep else "")
        tests.append(TestOutcome(
            name=str(entry.get("name", "?")), status=str(entry.get("result", "ERROR")),
            duration=float(entry.get("duration") or 0.0), log_tail=output[-tail_bytes:],
            suite=suite.split(":", 1)[-1],
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
    outcome.argv = {"test": expand(cfg.test, src, build, keep_paths=True) + list(only or [])}
    outcome.tests = read_testlog(build)
    if outcome.status == "fail" and not outcome.failed_tests and not outcome.note:
        outcome.note = "the test command failed without a failing test in testlog.json"
    if outcome.status == "ok" and outcome.failed_tests:
        outcome.status = "fail"
    return outcome
