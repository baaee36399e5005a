"""Real libvirt for the opt-in test and the bench: an upstream whose master is the base of the
netcreateflags series (libvirt 7.8.0-dev at ddba9f1dc9), the series' five patches as `git
format-patch` files (optionally changed, as a variant), and the project file the bot ships, pointed
at these local git dirs.

Reads SERIESBOT_LIBVIRT_GIT (a libvirt git dir with history up to Nov 2021) and
SERIESBOT_KEYCODEMAPDB_GIT (qemu's keycodemapdb, with commit 27acf0ef); SERIESBOT_LIBVIRT_NATIVE
may name another meson native file than config/libvirt-native.ini (a smaller driver set, quicker)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BASE = "ddba9f1dc9"
SERIES = ("6a0a2840cf", "00182251d0", "d0c80da88a", "f6b83df5b3", "4d31c02f05")
ENV_LIBVIRT, ENV_KEYCODEMAPDB, ENV_NATIVE = "SERIESBOT_LIBVIRT_GIT", "SERIESBOT_KEYCODEMAPDB_GIT", \
    "SERIESBOT_LIBVIRT_NATIVE"
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def sources() -> tuple[Path, Path] | None:
    libvirt, keycodemapdb = os.environ.get(ENV_LIBVIRT), os.environ.get(ENV_KEYCODEMAPDB)
    if not libvirt or not keycodemapdb:
        return None
    return Path(libvirt), Path(keycodemapdb)


def native_file() -> Path:
    return Path(os.environ.get(ENV_NATIVE) or ROOT / "config" / "libvirt-native.ini").resolve()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_upstream(libvirt: Path, dest: Path) -> Path:
    """A bare repo sharing libvirt's objects whose master is the series' base."""
    if not (dest / "HEAD").exists():
        subprocess.run(["git", "clone", "-q", "--bare", "--shared", str(libvirt), str(dest)], check=True, env=GIT_ENV)
    git(dest, "update-ref", "refs/heads/master", git(dest, "rev-parse", f"{BASE}^{{commit}}"))
    git(dest, "symbolic-ref", "HEAD", "refs/heads/master")
    return dest


def series_files(libvirt: Path, out: Path, to: str) -> list[Path]:
    """The five patches and a cover letter, as the contributor formatted them."""
    out.mkdir(parents=True, exist_ok=True)
    git(libvirt, "format-patch", "-q", "--cover-letter", "--thread=shallow", "--subject-prefix=libvirt PATCH",
        f"--to={to}", "-o", str(out), f"{BASE}..{SERIES[-1]}")
    files = sorted(out.glob("*.patch"))
    cover = files[0]
    cover.write_text(cover.read_text().replace("*** SUBJECT HERE ***", "network: add virNetworkCreateXMLFlags")
                     .replace("*** BLURB HERE ***", f"base-commit: {git(libvirt, 'rev-parse', BASE)}"))
    return files


def break_patch_2(files: list[Path]) -> None:
    """Patch 2 calls the new test-driver function with one argument too few (it no longer compiles)."""
    path = files[2]
    text = path.read_text()
    changed = text.replace("+    return testNetworkCreateXMLFlags(conn, xml, 0);",
                           "+    return testNetworkCreateXMLFlags(conn, xml);")
    assert changed != text
    path.write_text(changed)


def edit_structs_line(files: list[Path]) -> None:
    """Patch 1 also changes an existing line of src/remote_protocol-structs (a wire-ABI change)."""
    path = files[1]
    text = path.read_text()
    start = text.index("+++ b/src/remote_protocol-structs")
    hunk = text[start:]
    m = re.search(r"^ (\s+remote_nonnull_string\s+xml;)$", hunk, re.M)
    assert m, "no context line to change in patch 1's remote_protocol-structs hunk"
    line = m.group(1)
    replaced = hunk[: m.start()] + f"-{line}\n+{line.replace('remote_nonnull_string', 'remote_string')}" + \
        hunk[m.end():]
    path.write_text(text[:start] + replaced)


def project_file(name: str, upstream: Path, keycodemapdb: Path, list_address: str, config_dir: Path) -> str:
    """config/projects/libvirt.toml as shipped, pointed at the local git dirs; its native file is put
    in the bot's configuration folder `config_dir`, where the shipped file reads it ({config})."""
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(native_file(), config_dir / "libvirt-native.ini")
    text = (ROOT / "config" / "projects" / "libvirt.toml").read_text()
    text = re.sub(r'^name = ".*"$', f'name = "{name}"', text, flags=re.M)
    text = re.sub(r'^list_id = ".*"$', f'list_id = "{name}.lists.seriesbot.test"', text, flags=re.M)
    text = re.sub(r'^list_address = ".*"$', f'list_address = "{list_address}"', text, flags=re.M)
    text = re.sub(r'^upstream = ".*"$', f'upstream = "{upstream}"', text, flags=re.M)
    text = text.replace("[submodules]\n", f'[submodules]\n"src/keycodemapdb" = "{keycodemapdb}"\n')
    return text
