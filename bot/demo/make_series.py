#!/usr/bin/env python3
"""Rebuild the demo upstream repository and the demo patch series.

    python3 bot/demo/make_series.py OUTDIR [--update] [--check] [--verify]

OUTDIR/upstream  a git repository (branch main) holding bot/demo/tree/ as a
                 single commit, "Initial import of demovirt", by Demo Upstream,
                 dated 2026-01-01T00:00:00Z.
OUTDIR/series    the cover letter and the patches, made by git format-patch
                 from the diffs and messages in bot/demo/series-src/.

--update  also replace bot/demo/series/ with the regenerated files.
--check   fail unless the regenerated files equal bot/demo/series/ byte for byte.
--verify  apply the committed series (bot/demo/series/) with git am -3 onto a
          clone of the upstream repository, build and test after each patch in
          one build directory (meson setup, ninja, meson test), and fail unless
          apply/build/test verdicts and failing test names equal expected.json.

Everything is deterministic: fixed identities and dates, and git runs with no
system or global configuration.  Standard library only.
"""

import argparse
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
TREE_DIR = DEMO_DIR / "tree"
SOURCE_DIR = DEMO_DIR / "series-src"
SERIES_DIR = DEMO_DIR / "series"
EXPECTED_FILE = DEMO_DIR / "expected.json"

# Left behind by builds in the tree itself; never part of the upstream commit.
IGNORED_NAMES = {"build", "__pycache__", ".git"}


def git_env(who, date):
    """An environment for git with no user configuration and fixed identities."""
    name, email = re.fullmatch(r"(.+?) <(.+)>", who).groups()
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
        GIT_COMMITTER_DATE=date,
        TZ="UTC",
        LC_ALL="C",
    )
    return env


def git(repo, *args, env, input_text=None):
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def copy_tree(src, dst):
    """Copy the demo tree file by file, without permission bits (all 0644)."""
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        if IGNORED_NAMES.intersection(relative.parts) or path.suffix == ".pyc":
            continue
        target = dst / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def make_upstream(repo, base):
    env = git_env(base["author"], base["date"])
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main", env=env)
    copy_tree(TREE_DIR, repo)
    git(repo, "add", "--all", env=env)
    git(repo, "commit", "--quiet", "--no-verify", "-m", base["message"], env=env)
    return git(repo, "rev-parse", "HEAD", env=env).strip()


def commit_patches(repo, spec):
    env = git_env(spec["author"], spec["base"]["date"])
    git(repo, "checkout", "--quiet", "-b", spec["branch"], env=env)
    for patch in spec["patches"]:
        env = git_env(spec["author"], patch["date"])
        diff = (SOURCE_DIR / patch["diff"]).read_text()
        git(repo, "apply", "--index", "--whitespace=error-all", "-", env=env, input_text=diff)
        message = patch["subject"] + "\n\n" + patch["body"]
        git(
            repo,
            "commit",
            "--quiet",
            "--no-verify",
            "--cleanup=verbatim",
            "-F",
            "-",
            env=env,
            input_text=message,
        )


def format_series(repo, spec, upstream_sha, outdir):
    cover = spec["cover"]
    env = git_env(spec["author"], cover["date"])
    outdir.mkdir(parents=True)
    git(
        repo,
        "format-patch",
        "--quiet",
        "--cover-letter",
        "--subject-prefix=PATCH",
        "--no-thread",
        "--no-signature",
        f"--base={upstream_sha}",
        f"--add-header=List-Id: {spec['list_id']}",
        "-o",
        str(outdir),
        f"main..{spec['branch']}",
        env=env,
    )

    covers = sorted(outdir.glob("0000-*.patch"))
    text = covers[0].read_text()
    for placeholder, value in (
        ("*** SUBJECT HERE ***", cover["subject"]),
        ("*** BLURB HERE ***", cover["body"].rstrip("\n")),
    ):
        if placeholder not in text:
            sys.exit(f"format-patch cover letter has no {placeholder!r}")
        text = text.replace(placeholder, value)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", cover["subject"]).strip("-")
    covers[0].unlink()
    (outdir / f"0000-{slug}.patch").write_text(text)


def same_files(left, right):
    names = sorted(p.name for p in left.iterdir())
    if names != sorted(p.name for p in right.iterdir()):
        return False
    return all(filecmp.cmp(left / n, right / n, shallow=False) for n in names)


# --verify ------------------------------------------------------------------


def run_step(argv, cwd, log):
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    log.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    return result


def build_and_test(work, log):
    verdict = {}
    build = run_step(["ninja", "-C", "build"], work, log)
    if build.returncode != 0:
        verdict["build"] = "fail"
        match = re.search(r"^\.\./(\S+?):(\d+):\d+: error:", build.stdout, re.MULTILINE)
        if match:
            verdict["build_error"] = {"path": match.group(1), "line": int(match.group(2))}
        verdict["test"] = "skipped"
        return verdict
    verdict["build"] = "ok"
    tests = run_step(["meson", "test", "-C", "build", "--no-rebuild", "--print-errorlogs"], work, log)
    # Failures are listed twice: as they run, and in the summary.
    failed = sorted(set(re.findall(r"^\s*\d+/\d+ (\S+)\s+FAIL\b", tests.stdout, re.MULTILINE)))
    verdict["test"] = "ok" if tests.returncode == 0 else "fail"
    if failed:
        verdict["failed_tests"] = failed
    return verdict


def verify(outdir, spec):
    expected = json.loads(EXPECTED_FILE.read_text())
    work = outdir / "work"
    env = git_env(spec["author"], spec["cover"]["date"])
    subprocess.run(["git", "clone", "--quiet", str(outdir / "upstream"), str(work)], env=env, check=True)
    ok = True
    with open(outdir / "verify.log", "w") as log:
        if run_step(["meson", "setup", "build"], work, log).returncode != 0:
            sys.exit(f"meson setup failed, see {outdir / 'verify.log'}")
        base = build_and_test(work, log)
        print(f"upstream: {base}")
        ok &= base == expected["upstream"]
        listed = run_step(["meson", "test", "-C", "build", "--no-rebuild", "--list"], work, log)
        names = sorted(listed.stdout.split("\n")[:-1])
        print(f"tests: {names}")
        ok &= names == expected["tests"]

        patches = sorted(p for p in SERIES_DIR.glob("*.patch") if not p.name.startswith("0000-"))
        if len(patches) != len(expected["patches"]):
            sys.exit(f"{len(patches)} patches in {SERIES_DIR}, {len(expected['patches'])} in expected.json")
        for index, (path, want) in enumerate(zip(patches, expected["patches"], strict=True), 1):
            applied = subprocess.run(
                ["git", "am", "-3", "--quiet", str(path)], cwd=work, env=env, capture_output=True, text=True
            )
            log.write(f"$ git am -3 {path.name}\n{applied.stdout}{applied.stderr}\n")
            got = {"index": index, "apply": "ok" if applied.returncode == 0 else "fail"}
            if applied.returncode == 0:
                got.update(build_and_test(work, log))
            wanted = {k: v for k, v in want.items() if k not in ("rules", "subject")}
            print(f"{path.name}: {got}")
            if got != wanted:
                print(f"  MISMATCH, expected.json says {wanted}")
                ok = False
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="new directory for upstream/ and series/")
    parser.add_argument("--update", action="store_true", help="replace bot/demo/series/")
    parser.add_argument("--check", action="store_true", help="compare with bot/demo/series/")
    parser.add_argument("--verify", action="store_true", help="apply, build and test")
    args = parser.parse_args()

    spec = json.loads((SOURCE_DIR / "series.json").read_text())
    outdir = args.outdir.resolve()
    if outdir.exists() and any(outdir.iterdir()):
        sys.exit(f"{outdir} exists and is not empty")

    upstream = outdir / "upstream"
    upstream_sha = make_upstream(upstream, spec["base"])
    # The patches are committed in a scratch clone, so that upstream keeps
    # nothing but its one commit.
    scratch = outdir / "scratch"
    env = git_env(spec["author"], spec["base"]["date"])
    git(outdir, "clone", "--quiet", str(upstream), str(scratch), env=env)
    commit_patches(scratch, spec)
    format_series(scratch, spec, upstream_sha, outdir / "series")
    shutil.rmtree(scratch)
    print(f"upstream {upstream} at {upstream_sha}")
    print(f"series in {outdir / 'series'}")

    status = 0
    if args.update:
        shutil.rmtree(SERIES_DIR, ignore_errors=True)
        shutil.copytree(outdir / "series", SERIES_DIR)
        print(f"updated {SERIES_DIR}")
    if args.check and not same_files(outdir / "series", SERIES_DIR):
        print(f"{SERIES_DIR} differs from the regenerated series")
        status = 1
    if args.verify and not verify(outdir, spec):
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
