"""Pure: what a person needs from a build or configure log. Every error of the whole log comes first
(deduplicated, capped), warnings are kept apart, a linker error names the target ninja failed to make
and the function it was in, a compiler error the function gcc says it is in, and every path is made
relative to the source tree (files the build generates: `build/...`, as in the reproduce lines).

A libvirt build prints about 3,000 warnings, so nothing here may keep "the first N messages" or "the
last N bytes": the log is read line by line, once, to its end."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.records import CompilerMessage

COMPILER_RE = re.compile(
    r"^(?P<path>[^\s:][^:\n]*?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<kind>fatal error|error|warning): (?P<text>.+)$")
IN_FUNCTION_RE = re.compile(r"^(?P<path>[^\s:][^:\n]*?): In (?:member )?function [‘'`](?P<name>[^’']+)[’']:$")
TOP_LEVEL_RE = re.compile(r"^(?P<path>[^\s:][^:\n]*?): At top level:$")
# "/usr/bin/ld: ", "ld: ", "x86_64-linux-gnu-ld.bfd: " ... and what it says after it
LINKER_PREFIX_RE = re.compile(r"^(?:\S*/)?(?:[\w.-]+-)?ld(?:\.bfd|\.gold|\.lld)?: (?P<rest>.*)$")
LINKER_IN_FUNCTION_RE = re.compile(r"^(?P<obj>.+?): in function [`'‘](?P<name>[^'’]+)['’]:$")
LINKER_AT_RE = re.compile(r"^(?P<path>[^\s:][^:\n]*?):(?P<line>\d+):(?: (?P<text>.+))?$")
LINKER_SECTION_RE = re.compile(r"^(?P<obj>[^\s:][^:\n]*?):\((?P<section>[^)]*)\): (?P<text>.+)$")
# what ld says after its "in function" line, without its own prefix: "file:line: undefined reference ..."
LINKER_BARE_RE = re.compile(
    r"^(?P<path>[^\s:][^:\n]*?):(?:(?P<line>\d+)|\((?P<section>[^)]*)\)): (?P<text>(?:undefined reference to|"
    r"multiple definition of|more undefined references to|relocation |first defined here).*)$")
COLLECT2_RE = re.compile(r"^collect2: error: ld returned \d+ exit status$")
FAILED_RE = re.compile(r"^FAILED: (?:\[code=\d+\] )?(?P<outputs>.+)$")
STATUS_RE = re.compile(r"^\[\d+/\d+\] ")
MESON_ERROR_RE = re.compile(r"^(?:(?P<path>[^\s:][^:\n]*?):(?P<line>\d+):(?P<col>\d+): )?ERROR: (?P<text>.+)$")
NINJA_ERROR_RE = re.compile(r"^ninja: (?:error|fatal): (?P<text>.+)$")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_TEXT = 600  # one message's text: a generated line can be thousands of characters


@dataclass(frozen=True)
class Paths:
    """Where the step ran, to make the paths in its log readable anywhere."""

    src: Path
    build: Path

    def relative(self, path: str) -> str:
        p = Path(path)
        if not p.is_absolute():
            p = self.build / p
        p = Path(_normpath(str(p)))
        for root, prefix in ((self.build, "build/"), (self.src, "")):
            root_text = _normpath(str(root))
            try:
                rel = p.relative_to(root_text)
            except ValueError:
                continue
            return prefix + str(rel) if str(rel) != "." else prefix.rstrip("/") or "."
        return str(p) if Path(path).is_absolute() else path

    def scrub(self, text: str) -> str:
        """Host paths in free text (a linker line, a meson message) replaced by readable ones."""
        for root, prefix in ((self.build, "build/"), (self.src, "")):
            text = text.replace(_normpath(str(root)) + "/", prefix)
        return text


def _normpath(path: str) -> str:
    import os.path

    return os.path.normpath(path)


@dataclass
class BuildReport:
    errors: list[CompilerMessage] = field(default_factory=list)
    warnings: list[CompilerMessage] = field(default_factory=list)
    error_count: int = 0  # distinct errors in the whole log (before the cap)
    warning_count: int = 0
    failed_targets: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[CompilerMessage]:
        return [*self.errors, *self.warnings]


class _Collector:
    def __init__(self, max_errors: int, max_warnings: int) -> None:
        self.report = BuildReport()
        self.max_errors, self.max_warnings = max_errors, max_warnings
        self.seen: set[tuple[str, int, int, str, str]] = set()

    def add(self, message: CompilerMessage) -> bool:
        key = (message.path, message.line, message.column, message.kind, message.text)
        if key in self.seen:
            return False
        self.seen.add(key)
        r = self.report
        if message.kind == "error":
            r.error_count += 1
            if len(r.errors) < self.max_errors:
                r.errors.append(message)
        else:
            r.warning_count += 1
            if len(r.warnings) < self.max_warnings:
                r.warnings.append(message)
        return True


def _text(text: str, paths: Paths) -> str:
    text = paths.scrub(text.strip())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def parse_build_log(lines: Iterable[str], paths: Paths, max_errors: int = 50,
                    max_warnings: int = 50) -> BuildReport:
    """Compiler, linker and ninja messages of a whole build log, in the order they came."""
    out = _Collector(max_errors, max_warnings)
    target = ""  # the edge ninja reported FAILED last; its output follows until the next status line
    block_has_error = True
    block_first = ""
    expect_command = False
    functions: dict[str, str] = {}  # compiler: file -> function it is in
    link_function = ""

    def close_block() -> None:
        # a target that failed without a message we recognise still says why, in its first line
        if target and not block_has_error:
            out.add(CompilerMessage("", 0, 0, "error", _text(block_first or "failed without a message", paths),
                                    target=target))

    for raw in lines:
        line = ANSI_RE.sub("", raw.rstrip("\r\n"))
        if STATUS_RE.match(line):
            close_block()
            target, block_has_error, block_first, link_function = "", True, "", ""
            functions.clear()
            continue
        failed = FAILED_RE.match(line)
        if failed:
            close_block()
            target = paths.relative(failed.group("outputs").split()[0])
            if target not in out.report.failed_targets:
                out.report.failed_targets.append(target)
            block_has_error, block_first, expect_command, link_function = False, "", True, ""
            functions.clear()
            continue
        if expect_command:  # the command line ninja echoes after FAILED:
            expect_command = False
            continue
        if not line.strip():
            continue
        message = _message(line, paths, target, functions)
        if message is None:
            linker = LINKER_PREFIX_RE.match(line)
            if linker:
                rest = linker.group("rest")
                in_fn = LINKER_IN_FUNCTION_RE.match(rest)
                if in_fn:
                    link_function = in_fn.group("name")
                    continue
                message = _linker_message(rest, paths, target, link_function)
            elif (bare := LINKER_BARE_RE.match(line)) is not None:
                if not bare.group("text").startswith("first defined here"):  # that one is context
                    message = CompilerMessage(paths.relative(bare.group("path")), int(bare.group("line") or 0), 0,
                                              "error", _text(bare.group("text"), paths), function=link_function,
                                              target=target)
            elif COLLECT2_RE.match(line):
                if not block_has_error:
                    message = CompilerMessage("", 0, 0, "error", "ld returned 1 exit status", target=target)
            else:
                message = _tool_error(line, paths, target)
        if message is None:
            if target and not block_first and not line.startswith(("In file included", " ")):
                block_first = line
            continue
        if message.kind == "error":
            block_has_error = True
        out.add(message)
    close_block()
    return out.report


def _message(line: str, paths: Paths, target: str, functions: dict[str, str]) -> CompilerMessage | None:
    m = IN_FUNCTION_RE.match(line)
    if m:
        functions[paths.relative(m.group("path"))] = m.group("name")
        return None
    m = TOP_LEVEL_RE.match(line)
    if m:
        functions.pop(paths.relative(m.group("path")), None)
        return None
    m = COMPILER_RE.match(line)
    if m is None:
        return None
    path = paths.relative(m.group("path"))
    kind = "error" if "error" in m.group("kind") else "warning"
    return CompilerMessage(path, int(m.group("line")), int(m.group("col") or 0), kind, _text(m.group("text"), paths),
                           function=functions.get(path, ""), target=target)


def _linker_message(rest: str, paths: Paths, target: str, function: str) -> CompilerMessage | None:
    kind = "warning" if rest.startswith("warning: ") or ": warning: " in rest else "error"
    at = LINKER_AT_RE.match(rest)
    if at and at.group("text"):
        return CompilerMessage(paths.relative(at.group("path")), int(at.group("line")), 0, kind,
                               _text(at.group("text"), paths), function=function, target=target)
    section = LINKER_SECTION_RE.match(rest)
    if section:
        return CompilerMessage(paths.relative(section.group("obj")), 0, 0, kind, _text(section.group("text"), paths),
                               function=function, target=target)
    return CompilerMessage("", 0, 0, kind, _text(rest, paths), function=function, target=target)


def _tool_error(line: str, paths: Paths, target: str) -> CompilerMessage | None:
    """ninja's own error, or meson's when ninja re-ran it (a meson.build the patch changed)."""
    m = NINJA_ERROR_RE.match(line)
    if m:
        return CompilerMessage("", 0, 0, "error", _text(m.group("text"), paths), target=target)
    m = MESON_ERROR_RE.match(line)
    if m:
        path = paths.relative(m.group("path")) if m.group("path") else ""
        return CompilerMessage(path, int(m.group("line") or 0), int(m.group("col") or 0), "error",
                               _text(m.group("text"), paths), target=target)
    return None


def parse_setup_log(lines: Iterable[str], paths: Paths, context: int = 3) -> list[CompilerMessage]:
    """Meson's own `ERROR:` (with the lines that led to it, as its text's context), else the compiler
    messages of a failed configure check."""
    before: list[str] = []
    found: list[CompilerMessage] = []
    for raw in lines:
        line = ANSI_RE.sub("", raw.rstrip("\r\n"))
        m = MESON_ERROR_RE.match(line)
        if m:
            lead = [_text(b, paths) for b in before[-context:]]
            text = _text(m.group("text"), paths)
            if lead:
                text += " [after: " + " | ".join(lead) + "]"
            path = paths.relative(m.group("path")) if m.group("path") else ""
            found.append(CompilerMessage(path, int(m.group("line") or 0), int(m.group("col") or 0), "error", text))
            continue
        if line.strip() and not line.startswith("A full log can be found"):
            before.append(line.strip())
            del before[:-context]
    return found


def read_lines(path: str | Path) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from f
    except OSError:
        return


def compiled_sources(build: Path, paths: Paths) -> set[str] | None:
    """Source files the configured build compiles, from meson's compile_commands.json, relative to the
    source tree; None when the build has no compile database."""
    try:
        entries = json.loads((build / "compile_commands.json").read_text())
    except (OSError, ValueError):
        return None
    found: set[str] = set()
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "file" not in entry:
            continue
        file = Path(str(entry["file"]))
        if not file.is_absolute():
            file = Path(str(entry.get("directory") or build)) / file
        found.add(paths.relative(str(file)))
    return found


C_SOURCE_RE = re.compile(r"\.(c|cc|cpp|cxx|m)$")


def not_built(changed: Iterable[str], compiled: set[str] | None) -> list[str]:
    """C sources a patch changes that this configuration does not compile (another driver, another OS)."""
    if compiled is None:
        return []
    return sorted({p for p in changed if C_SOURCE_RE.search(p) and p not in compiled})
