"""`git patch-id --stable` in Python: the identity of a change regardless of line numbers and
whitespace. Used to spot unchanged patches between versions, patches already upstream, and the
`prerequisite-patch-id:` lines of `git format-patch --base`.

Computed in-process because ingest handles hundreds of mails a second and a git subprocess per
patch would cost more than the rest of ingest together. It follows git's builtin/patch-id.c (stable
mode): each file's diff is hashed on its own with whitespace removed and hunk line numbers ignored,
and the per-file SHA-1s are added as little-endian numbers. A test compares it with git itself."""

from __future__ import annotations

import hashlib
import re

_HUNK_RE = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_SPACE_RE = re.compile(rb"\s+")


def _add(result: bytearray, digest: bytes) -> None:
    carry = 0
    for i in range(len(result)):
        carry += result[i] + digest[i]
        result[i] = carry & 0xFF
        carry >>= 8


def _hunk_sizes(line: str) -> tuple[int, int]:
    m = _HUNK_RE.match(line)
    if not m:
        return 1, 1
    before = int(m.group(1)) if m.group(1) is not None else 1
    after = int(m.group(2)) if m.group(2) is not None else 1
    return before, after


def patch_id(diff: str) -> str | None:
    """The stable patch-id of a diff (text starting at the first `diff --git` line), or None."""
    if "diff " not in diff:
        return None
    result = bytearray(20)
    ctx = hashlib.sha1()
    patchlen = 0
    before = after = -1
    binary = False
    pre_oid = post_oid = b""
    for raw_line in diff.splitlines(keepends=True):
        line = raw_line
        if not patchlen and not line.startswith("diff "):
            continue
        if before == -1:
            if line.startswith(("GIT binary patch", "Binary files")):
                binary = True
                before = 0
                ctx.update(pre_oid)
                ctx.update(post_oid)
                _add(result, ctx.digest())
                ctx = hashlib.sha1()
                continue
            if line.startswith("index "):
                rest = line[6:].rstrip("\n")
                if ".." in rest:
                    old, _, new = rest.partition("..")
                    pre_oid = old.encode()
                    post_oid = new.split(" ", 1)[0].encode()
                continue
            if line.startswith("--- "):
                before = after = 1
            elif not line[:1].isalpha():
                break
        if binary:
            if line.startswith("diff "):
                binary = False
                before = -1
            continue
        if before == 0 and after == 0:
            if line.startswith("@@ -"):
                before, after = _hunk_sizes(line)
                continue
            if not line.startswith("diff "):
                break
            _add(result, ctx.digest())
            ctx = hashlib.sha1()
            before = after = -1
        if line[:1] in ("-", " "):
            before -= 1
        if line[:1] in ("+", " "):
            after -= 1
        data = _SPACE_RE.sub(b"", line.encode("utf-8", "surrogateescape"))
        patchlen += len(data)
        ctx.update(data)
    if not patchlen:
        return None
    _add(result, ctx.digest())
    return result.hex()
