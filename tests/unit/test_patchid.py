"""Our in-process patch-id equals `git patch-id --stable` on real diffs."""

import subprocess

import pytest

from bot.demo.upstream import series_files
from bot.ingest.parse import parse_mail
from bot.ingest.patchid import patch_id

BINARY_AND_RENAME = """diff --git a/old.c b/new.c
similarity index 100%
rename from old.c
rename to new.c
diff --git a/logo.png b/logo.png
index 1111111..2222222 100644
GIT binary patch
literal 5
Mcmb=p;Nsu|00NQ#qW}N^

literal 0
HcmV?d00001

diff --git a/a.c b/a.c
index 3333333..4444444 100644
--- a/a.c
+++ b/a.c
@@ -1,3 +1,3 @@
 int a;
-int  b;
+int b2;
 int c;
"""


def git_patch_id(diff: str) -> str | None:
    out = subprocess.run(["git", "patch-id", "--stable"], input=diff, capture_output=True, text=True).stdout.split()
    return out[0] if out else None


@pytest.mark.parametrize("path", [p for p in series_files() if not p.name.startswith("0000")], ids=lambda p: p.name[:4])
def test_same_as_git_on_the_sample_series(path):
    diff = parse_mail(path.read_bytes()).diff
    assert patch_id(diff) == git_patch_id(diff)


def test_same_as_git_on_binary_and_rename():
    assert patch_id(BINARY_AND_RENAME) == git_patch_id(BINARY_AND_RENAME)


def test_line_numbers_and_whitespace_do_not_matter():
    a = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    b = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -10,2 +10,2 @@\n a\n-b\n+  c\n"
    assert patch_id(a) == patch_id(b) and patch_id("no diff here") is None
