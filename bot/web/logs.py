"""Step logs from storage (data_dir/logs): a page of a large log, or its tail for the series page.
Paths come from URLs, so each is resolved and must stay inside the logs directory."""

from __future__ import annotations

from pathlib import Path

from bot import redact
from bot.web.records import LogChunk

PAGE = 256 * 1024
TAIL = 6 * 1024


def resolve(logs_dir: Path, path: str) -> Path | None:
    root = logs_dir.resolve()
    try:  # is_file() too raises on a name too long for the file system
        target = (root / path).resolve()
        if root not in target.parents or not target.is_file():
            return None
    except (OSError, ValueError):
        return None
    return target


def read_page(logs_dir: Path, path: str, offset: int = 0, size: int = PAGE) -> LogChunk | None:
    target = resolve(logs_dir, path)
    if target is None:
        return None
    total = target.stat().st_size
    offset = min(max(0, offset), total)
    with open(target, "rb") as f:
        f.seek(offset)
        chunk = f.read(size)
    end = offset + len(chunk)
    return LogChunk(path=path, offset=offset, size=total, next_offset=end if end < total else None,
                    text=redact.current().text(chunk.decode("utf-8", "replace")))


def tail(logs_dir: Path, path: str, size: int = TAIL) -> tuple[str, bool] | None:
    """The last `size` bytes of a log, from a line start; and whether anything was cut off."""
    target = resolve(logs_dir, path)
    if target is None:
        return None
    total = target.stat().st_size
    with open(target, "rb") as f:
        f.seek(max(0, total - size))
        data = f.read(size)
    cut = total > size
    if cut and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return redact.current().text(data.decode("utf-8", "replace")), cut


def stream(target: Path, chunk: int = 65536):  # type: ignore[no-untyped-def]
    """The whole file, with the bot's secrets redacted on the way (for ?raw=1)."""
    redactor = redact.current().stream()
    with open(target, "rb") as f:
        while data := f.read(chunk):
            yield redactor.feed(data)
    yield redactor.flush()
