"""The compiler cache's part of a step (pure parts): its stats log read into hits and misses, the
step's environment for each choice, and the project keys that switch it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import BuildSettings, load_settings
from tests.stack import write_config
from workers import ccache

# ccache 4.7's stats log for three compiles: a miss, a direct hit, a preprocessing-only call
STATS_LOG = """# src/a.c
cache_miss
direct_cache_miss
local_storage_miss
local_storage_read_miss
local_storage_write
preprocessed_cache_miss
# src/a.c
direct_cache_hit
local_storage_hit
local_storage_read_hit
# src/b.c
preprocessed_cache_hit
local_storage_hit
# src/a.c
called_for_preprocessing
"""


def test_stats_log_counts_each_compile_once():
    stats = ccache.parse_stats(STATS_LOG)
    assert (stats.hits, stats.misses, stats.uncacheable) == (2, 1, 1)
    assert stats.hit_rate == pytest.approx(2 / 3, abs=1e-4)
    assert ccache.parse_stats("").hit_rate is None


def test_stats_are_read_only_from_a_file_in_the_build_directory(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("direct_cache_hit\n" * 5)
    (build / ccache.STATS_LOG).symlink_to(secret)  # a step may leave a link to a file it cannot read
    assert ccache.read_stats(build) is None
    (build / ccache.STATS_LOG).unlink()
    assert ccache.read_stats(build) is None
    (build / ccache.STATS_LOG).write_text(STATS_LOG)
    assert ccache.read_stats(build).hits == 2
    ccache.reset_stats(build)
    assert not (build / ccache.STATS_LOG).exists()


def test_environment_for_each_choice(tmp_path, monkeypatch):
    monkeypatch.setattr(ccache, "available", lambda: True)
    cache, root = tmp_path / "cache", tmp_path / "work"
    writable, env = ccache.workspace_parts(BuildSettings(), cache, root)
    values = dict(env)
    assert writable == (cache,) and values["CCACHE_DIR"] == str(cache) and values["CCACHE_MAXSIZE"] == "5G"
    assert values["CCACHE_BASEDIR"] == str(root) and values["CCACHE_NOHASHDIR"] == "1"
    assert values["CCACHE_DEPEND"] == "1" and "CCACHE_DISABLE" not in values
    assert ccache.stats_env(env, Path("/b")) == {"CCACHE_STATSLOG": f"/b/{ccache.STATS_LOG}"}
    _, env = ccache.workspace_parts(BuildSettings(ccache_mode="preprocessor"), cache, root)
    assert "CCACHE_DEPEND" not in dict(env)
    writable, env = ccache.workspace_parts(BuildSettings(ccache=False), cache, root)
    assert writable == () and dict(env) == {"CCACHE_DISABLE": "1"} and ccache.stats_env(env, Path("/b")) == {}
    monkeypatch.setattr(ccache, "available", lambda: False)  # on, but not installed: off, with a warning
    assert ccache.workspace_parts(BuildSettings(), cache, root) == ((), (("CCACHE_DISABLE", "1"),))


def test_project_keys_are_validated(tmp_path):
    good = write_config(tmp_path / "a", smtp_port=1, web_port=2, relay_port=3, project_overrides="")
    build = load_settings(good, env={}).project("demo").build
    assert (build.ccache, build.ccache_mode, build.ccache_max_size) == (True, "depend", "5G")
    for bad, key in (('ccache_mode = "fast"', "ccache_mode"), ('ccache_max_size = "lots"', "ccache_max_size")):
        config = write_config(tmp_path / key, smtp_port=1, web_port=2, relay_port=3)
        project = config.parent / "projects" / "demo.toml"
        project.write_text(project.read_text().replace("[build]\n", f"[build]\n{bad}\n"))
        with pytest.raises(ConfigError, match=key):
            load_settings(config, env={})
