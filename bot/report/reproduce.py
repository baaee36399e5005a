"""Pure: text that must survive any relay and make sense on a reader's machine. The reproduce lines
are the commands that really ran (the real parallelism), in the reader's paths (`.` and `build`),
with a meson native file spelled out as the -D options it holds and the bot's own paths replaced;
long commands are continued with a backslash, and no line of a mail is ever longer than SMTP allows."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

WIDTH = 76
SMTP_LINE_BYTES = 998  # RFC 5321 4.5.3.1.6: a line of text, without its CRLF
NATIVE_FILE_OPTS = ("--native-file", "--cross-file")


def reader_argv(argv: list[str], native_options: Mapping[str, tuple[str, ...]],
                host_paths: tuple[tuple[str, str], ...]) -> list[str]:
    """One step's argv as a reader runs it in their clone."""
    out: list[str] = []
    skip_next = False
    for i, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        value = None
        if arg in NATIVE_FILE_OPTS and i + 1 < len(argv):
            value, skip_next = argv[i + 1], True
        elif arg.startswith(tuple(f"{o}=" for o in NATIVE_FILE_OPTS)):
            value = arg.split("=", 1)[1]
        if value is not None and value in native_options:
            out.extend(native_options[value])
            continue
        if value is not None:
            out.extend([arg.split("=", 1)[0], scrub(value, host_paths)])
            continue
        out.append(scrub(arg.replace("{src}", ".").replace("{build}", "build"), host_paths))
    return out


def shell_lines(argv: list[str], indent: str = "  ", width: int = WIDTH) -> list[str]:
    """A command as copy-pasteable shell lines, continued with ` \\`; a word longer than a line is
    double-quoted and continued inside its quotes (the shell drops a backslash-newline there)."""
    lines: list[str] = []
    current = indent
    for arg in argv:
        word = shlex.quote(arg)
        room = width - len(indent) - 6
        if len(word) > room:
            pieces = _long_word(arg, room)
            if current.strip():
                lines.append(current.rstrip() + " \\")
            # inside the quotes, a continuation line's indent would be part of the word: none
            lines.append(indent + "    " + pieces[0])
            lines.extend(pieces[1:-1])
            current = pieces[-1] if len(pieces) > 1 else lines.pop()
            continue
        if current.strip() and len(current) + 1 + len(word) + 2 > width:
            lines.append(current.rstrip() + " \\")
            current = indent + "    " + word
        else:
            current = f"{current} {word}" if current.strip() else indent + word
    lines.append(current.rstrip())
    return lines


def _long_word(arg: str, room: int) -> list[str]:
    """`"...\\` pieces of one double-quoted word; the last piece ends the quote."""
    escaped = "".join("\\" + c if c in '\\"$`' else c for c in arg)
    pieces: list[str] = []
    text = '"' + escaped + '"'
    while len(text) > room:
        cut = text.rfind(" ", 1, room)
        cut = cut + 1 if cut > room // 2 else room
        while text[cut - 1] == "\\":  # never split an escape from what it escapes
            cut -= 1
        pieces.append(text[:cut] + "\\")
        text = text[cut:]
    pieces.append(text)
    return pieces


def command_lines(commands: Mapping[str, list[str]], native_options: Mapping[str, tuple[str, ...]],
                  host_paths: tuple[tuple[str, str], ...]) -> list[str]:
    lines: list[str] = []
    for step in ("setup", "build", "test"):
        if commands.get(step):
            lines.extend(shell_lines(reader_argv(list(commands[step]), native_options, host_paths)))
    return lines


def scrub(text: str, host_paths: tuple[tuple[str, str], ...]) -> str:
    """The bot's own paths (its data directory, build trees, config folder) replaced by what a
    reader can use. `host_paths` holds (regular expression, replacement) pairs, applied in order."""
    for pattern, replacement in host_paths:
        text = re.sub(pattern, replacement, text)
    return text


def fold_long_lines(text: str, limit: int = SMTP_LINE_BYTES) -> str:
    """No line over `limit` bytes (UTF-8), whatever went into the text: a longer one is cut into
    pieces, never inside a character, the pieces marked as continued."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line.encode("utf-8")) <= limit:
            out.append(line)
            continue
        piece = ""
        for ch in line:
            if len((piece + ch).encode("utf-8")) > limit - 2:
                out.append(piece + " \\")
                piece = ""
            piece += ch
        out.append(piece)
    return "\n".join(out)


def native_file_options(text: str) -> tuple[str, ...] | None:
    """A meson machine file's [project options] and [built-in options] as -D options; None when it
    holds what -D cannot say (constants, binaries, properties), so the caller keeps the file."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    options: list[str] = []
    for section in parser.sections():
        if section not in ("project options", "built-in options"):
            return None
        for key, raw in parser.items(section):
            value = _meson_value(raw.strip())
            if value is None:
                return None
            options.append(f"-D{key}={value}")
    return tuple(options)


def _meson_value(raw: str) -> str | None:
    if raw in ("true", "false"):
        return raw
    if re.fullmatch(r"-?\d+", raw):
        return raw
    m = re.fullmatch(r"'([^'\\]*)'", raw)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\[\s*((?:'[^'\\]*'\s*,?\s*)*)\]", raw)
    if m:
        return ",".join(re.findall(r"'([^'\\]*)'", m.group(1)))
    return None


def jobs_used(commands: object) -> str:
    """The parallelism the bot used, read back from the test command ("--num-processes 2")."""
    if isinstance(commands, dict):
        for argv in commands.values():
            for flag in ("--num-processes", "-j"):
                if flag in argv and argv.index(flag) + 1 < len(argv):
                    return str(argv[argv.index(flag) + 1])
    return "$(nproc)"
