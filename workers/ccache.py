"""The compiler cache of the build steps: ccache (the Debian package), in a directory of the worker's
own (never $HOME), shared by every series and by both build directories of a project (the series'
and upstream's), written by the steps inside the sandbox and capped in size by ccache itself.

meson wraps the compiler with ccache whenever ccache is on PATH, so the choice is made here, in the
step's environment: on, the cache directory and its options; off, CCACHE_DISABLE (a build directory
configured with ccache then compiles straight through). Paths under the project's work folder are
hashed relative to it (CCACHE_BASEDIR) and the working directory is left out of the hash, so the
upstream build directory hits what the series' one compiled (their trees sit at the same relative
place). Each step's own hits and misses come from ccache's stats log, written in the build directory
(a step's counts, not the whole cache's, even while another project's step uses the same cache)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.settings import BuildSettings

log = logging.getLogger("seriesbot.ccache")

STATS_LOG = ".seriesbot-ccache-stats.log"  # in the build directory: the step may write only there
STATS_LOG_MAX = 16 * 1024 * 1024
HIT = {"direct_cache_hit", "preprocessed_cache_hit"}
MISS = {"cache_miss"}
# a compile ccache could not cache (a configure check, a link, preprocessing only): counted apart
UNCACHEABLE = {"called_for_link", "called_for_preprocessing", "compiler_check_failed", "compile_failed",
               "multiple_source_files", "no_input_file", "unsupported_compiler_option", "autoconf_test",
               "bad_compiler_arguments", "output_to_stdout", "preprocessor_error", "unsupported_source_language",
               "could_not_use_precompiled_header", "could_not_use_modules", "compiler_produced_no_output",
               "compiler_produced_empty_output", "compiler_produced_stdout", "internal_error", "bad_output_file",
               "unsupported_code_directive", "could_not_find_compiler"}
_warned: set[str] = set()


@dataclass(frozen=True)
class CacheStats:
    """What ccache did during one step."""

    hits: int = 0
    misses: int = 0
    uncacheable: int = 0

    @property
    def hit_rate(self) -> float | None:
        looked_up = self.hits + self.misses
        return round(self.hits / looked_up, 4) if looked_up else None

    def as_dict(self) -> dict[str, int | float | None]:
        return {"hits": self.hits, "misses": self.misses, "uncacheable": self.uncacheable, "hit_rate": self.hit_rate}


def available() -> bool:
    return shutil.which("ccache") is not None


def workspace_parts(cfg: BuildSettings, cache_dir: Path, base_dir: Path) -> tuple[tuple[Path, ...],
                                                                                     tuple[tuple[str, str], ...]]:
    """(the paths a step must be able to write, the variables of its environment) for this project's
    ccache choice. `base_dir` is the project's work folder (both trees are under it)."""
    if not cfg.ccache:
        return (), (("CCACHE_DISABLE", "1"),)
    if not available():
        if "missing" not in _warned:
            _warned.add("missing")
            log.warning("event=ccache-missing reason=build.ccache is on but ccache is not installed: builds run "
                        "without a compiler cache")
        return (), (("CCACHE_DISABLE", "1"),)
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = [("CCACHE_DIR", str(cache_dir)), ("CCACHE_MAXSIZE", cfg.ccache_max_size),
           ("CCACHE_BASEDIR", str(base_dir)), ("CCACHE_NOHASHDIR", "1"), ("CCACHE_TEMPDIR", str(cache_dir / "tmp"))]
    if cfg.ccache_mode == "depend":
        env.append(("CCACHE_DEPEND", "1"))
    return (cache_dir,), tuple(env)


def stats_env(ws_env: tuple[tuple[str, str], ...], build: Path) -> dict[str, str]:
    """The stats log of a step in `build`, when the cache is on."""
    values = dict(ws_env)
    if "CCACHE_DIR" not in values or values.get("CCACHE_DISABLE"):
        return {}
    return {"CCACHE_STATSLOG": str(build / STATS_LOG)}


def reset_stats(build: Path) -> None:
    try:
        (build / STATS_LOG).unlink()
    except FileNotFoundError:
        pass


def parse_stats(text: str) -> CacheStats:
    """ccache's stats log: a `# <source>` line per compile, then one counter name per line."""
    hits = misses = uncacheable = 0
    for line in text.splitlines():
        word = line.strip()
        if word in HIT:
            hits += 1
        elif word in MISS:
            misses += 1
        elif word in UNCACHEABLE:
            uncacheable += 1
    return CacheStats(hits, misses, uncacheable)


def read_stats(build: Path) -> CacheStats | None:
    """The counts of the step that just ran in `build` (None when the cache was off or unused). The
    step wrote the file: read only when it really is a file in the build directory, and capped."""
    path = build / STATS_LOG
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(build.resolve()) or not resolved.is_file():
            return None
        with open(resolved, "rb") as f:
            text = f.read(STATS_LOG_MAX).decode("utf-8", "replace")
    except OSError:
        return None
    return parse_stats(text)
