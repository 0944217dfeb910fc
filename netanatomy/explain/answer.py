"""An answer of ``netanatomy explain``: named numbers and blocks of text, independent of the language.

A topic computes an :class:`Answer` once: every number it will print is registered under a name
(:meth:`Answer.num`), and the prose is a list of blocks that refer to message keys. Rendering
picks a catalogue (one per language, :mod:`netanatomy.explain.messages`) and fills the same
numbers, formatted by the same code, into either language; so the English and the Korean answer
cannot disagree on a figure, and JSON gets the numbers with their names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netanatomy.explain.messages import catalogue

Number = int | float

#: ``{name}`` in a template; names may hold dots (``{conv.params_share}``), so no str.format.
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.]+)\}")


def format_number(value: Number, digits: int | None = None, percent: bool = False, sci: bool = False) -> str:
    """The one formatting of numbers in every language: ``1,792``, ``0.13``, ``12.5%``, ``2.8e-17``.

    Integers get thousands separators; floats the given number of decimals (``digits``);
    ``percent`` shows a fraction as a percentage, ``sci`` a tiny one in scientific notation.
    """
    if sci:
        return "0" if value == 0 else f"{value:.{1 if digits is None else digits}e}"
    if percent:
        return f"{100 * value:,.{1 if digits is None else digits}f}%"
    if isinstance(value, bool):
        raise TypeError("a truth value is not a number")
    if isinstance(value, int):
        return f"{value:,}"
    if digits is None:
        raise ValueError("a float needs its number of decimals")
    text = f"{value:,.{digits}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.00"


@dataclass(frozen=True)
class Msg:
    """A reference to a message of the catalogue (a table header, a row label)."""

    key: str


Cell = str | Msg


@dataclass(frozen=True)
class Para:
    """A paragraph: the catalogue's message ``key``, filled with the answer's numbers and names."""

    key: str


@dataclass(frozen=True)
class Code:
    """Verbatim lines (formulas, a worked recurrence): built from numbers, the same in every language."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """Rows of cells under headers; cells are formatted numbers, names or catalogue messages."""

    headers: tuple[Cell, ...]
    rows: tuple[tuple[Cell, ...], ...]


Block = Para | Code | Table


@dataclass
class Answer:
    """One topic's answer: its numbers by name, the names it mentions, its blocks, the next command."""

    topic: str
    page: str
    numbers: dict[str, Number] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    more: str = ""

    def num(self, name: str, value: Number, digits: int | None = None, percent: bool = False, sci: bool = False) -> str:
        """Register the number ``name`` and return its text (the same in every language)."""
        if name in self.numbers:
            raise ValueError(f"number {name!r} registered twice")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"number {name!r} is a {type(value).__name__}")
        value = int(value) if isinstance(value, int) else float(value)
        self.numbers[name] = value
        self.texts[name] = format_number(value, digits, percent, sci)
        return self.texts[name]

    def name(self, key: str, text: str) -> str:
        """Register a name (a model, a layer, a character) that messages may mention."""
        self.names[key] = text
        return text

    def say(self, *keys: str) -> None:
        self.blocks.extend(Para(k) for k in keys)

    def code(self, *lines: str) -> None:
        self.blocks.append(Code(tuple(lines)))

    def table(self, headers: Sequence[Cell], rows: Sequence[Sequence[Cell]]) -> None:
        self.blocks.append(Table(tuple(headers), tuple(tuple(r) for r in rows)))

    # -- rendering ---------------------------------------------------------------------------

    def _fill(self, messages: dict[str, str], key: str) -> str:
        try:
            template = messages[key]
        except KeyError:
            raise KeyError(f"message {key!r} is missing from the catalogue") from None
        values = {**self.texts, **self.names}
        return PLACEHOLDER.sub(lambda m: values[m[1]], template)

    def _cell(self, messages: dict[str, str], cell: Cell) -> str:
        return self._fill(messages, cell.key) if isinstance(cell, Msg) else cell

    def question(self, lang: str) -> str:
        return self._fill(catalogue(lang), f"{self.topic}.question")

    def to_text(self, lang: str, width: int = 100) -> str:
        """Plain text for a terminal: wrapped paragraphs, indented formulas, aligned tables."""
        m = catalogue(lang)
        title = f"{self.topic} [{self.page}] {self.question(lang)}"
        out = [title, "=" * min(width, display_width(title)), ""]
        for block in self.blocks:
            if isinstance(block, Para):
                out += wrap(self._fill(m, block.key).replace("`", ""), width)
            elif isinstance(block, Code):
                out += ["    " + line for line in block.lines]
            else:
                out += _text_table([self._cell(m, c) for c in block.headers],
                                   [[self._cell(m, c) for c in row] for row in block.rows])
            out.append("")
        out.append(f"{m['more']} {self.more}")
        return "\n".join(out) + "\n"

    def to_markdown(self, lang: str) -> str:
        """Markdown: a heading, paragraphs, fenced formulas and pipe tables."""
        m = catalogue(lang)
        out = [f"## {self.question(lang)}", "", f"*{self.page} · `netanatomy explain {self.topic}`*", ""]
        for block in self.blocks:
            if isinstance(block, Para):
                out.append(self._fill(m, block.key))
            elif isinstance(block, Code):
                out += ["```text", *block.lines, "```"]
            else:
                headers = [self._cell(m, c) for c in block.headers]
                out.append("| " + " | ".join(_md_escape(h) for h in headers) + " |")
                out.append("|" + "|".join("---:" if k else "---" for k in range(len(headers))) + "|")
                for row in block.rows:
                    out.append("| " + " | ".join(_md_escape(self._cell(m, c)) for c in row) + " |")
            out.append("")
        out.append(f"**{m['more'].rstrip(':')}:** `{self.more}`")
        return "\n".join(out) + "\n"

    def to_dict(self, lang: str) -> dict[str, Any]:
        """The payload of ``--format json`` (the CLI adds ``schema_version`` and ``kind``)."""
        m = catalogue(lang)
        return {
            "topic": self.topic,
            "page": self.page,
            "lang": lang,
            "question": self.question(lang),
            "numbers": dict(self.numbers),
            "names": dict(self.names),
            "paragraphs": [self._fill(m, b.key) for b in self.blocks if isinstance(b, Para)],
            "more": self.more,
        }

    def render(self, lang: str, fmt: str) -> str | dict[str, Any]:
        """``text`` or ``md`` as a string, ``json`` as the payload dict."""
        if fmt == "json":
            return self.to_dict(lang)
        if fmt == "md":
            return self.to_markdown(lang)
        return self.to_text(lang)


def display_width(text: str) -> int:
    """Terminal cells: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap by display width (Korean text wraps at spaces as well)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and display_width(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


_NUMERIC = re.compile(r"^[-+]?[\d,.]+(e[-+]\d+)?[%a-zA-Z]*$|^[-+]?[\d,.]+(\s|$)")


def _text_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(display_width(r[k]) for r in [headers, *rows]) for k in range(len(headers))]

    def line(cells: list[str]) -> str:
        parts = []
        for k, (c, w) in enumerate(zip(cells, widths)):
            pad = " " * (w - display_width(c))
            parts.append(pad + c if k and _NUMERIC.match(c) else c + pad)
        return "  " + "  ".join(parts).rstrip()

    return [line(headers), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _md_escape(cell: str) -> str:
    return cell.replace("|", "\\|")
