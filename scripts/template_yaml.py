"""Reads template.yaml's Parameters and Rules with the standard library only, for the deploy preflight.

The preflight runs before any virtual environment exists (``make deploy`` on a fresh clone), so PyYAML is
not available. These two sections use a small subset of YAML: block mappings and sequences, one-line flow
collections (``[a, "b"]``, ``{Ref: X}``), plain, single- and double-quoted scalars, folded and literal block
scalars (``>-``, ``|``) and comments. Anything else raises TemplateSyntaxError naming the line, and
tests/contract/test_deploy.py checks that this reader and PyYAML agree on the real template.
"""

from __future__ import annotations

import re
from typing import Any

_KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#\[\]{},][^#]*?):(?:\s+|$)(.*)$""")
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0"}


class TemplateSyntaxError(ValueError):
    """template.yaml uses YAML this reader does not handle."""


def top_level_sections(text: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The named top-level sections of a CloudFormation template, as PyYAML's safe_load would read them."""
    lines = text.splitlines()
    found: dict[str, Any] = {}
    starts = [i for i, line in enumerate(lines) if re.match(r"^[A-Za-z][A-Za-z0-9]*:", line)]
    for position, start in enumerate(starts):
        name = lines[start].split(":", 1)[0]
        if name not in names:
            continue
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        reader = _Reader(lines[start + 1 : end], first_line=start + 2)
        found[name] = reader.block(reader.next_indent(0)) if reader.has_more() else None
    return found


def _strip_comment(text: str) -> str:
    """The line without a trailing comment (a '#' after whitespace, outside quotes)."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote and not (quote == '"' and text[index - 1] == "\\"):
                quote = ""
        elif char in "\"'" and (index == 0 or text[index - 1] in " [{,:"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def scalar(text: str) -> Any:
    """A plain or quoted scalar, typed the way YAML 1.1's core resolvers (PyYAML) type it."""
    if text.startswith('"'):
        body = text[1:-1]
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    lowered = text.lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    if lowered in {"null", "~", ""}:
        return None
    return text


class _Flow:
    """One-line flow collections: ``[a, {Ref: B}, "c"]``."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.at, self.where = text, 0, where

    def value(self) -> Any:
        self._skip()
        char = self.text[self.at] if self.at < len(self.text) else ""
        if char == "[":
            return self._collection("]", self._sequence_item)
        if char == "{":
            pairs = self._collection("}", self._pair)
            return dict(pairs)
        return scalar(self._token())

    def _skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] == " ":
            self.at += 1

    def _collection(self, close: str, item: Any) -> Any:
        self.at += 1
        items: list[Any] = []
        while True:
            self._skip()
            if self.at >= len(self.text):
                raise TemplateSyntaxError(f"{self.where}: unclosed flow collection")
            if self.text[self.at] == close:
                self.at += 1
                return items
            items.append(item())
            self._skip()
            if self.at < len(self.text) and self.text[self.at] == ",":
                self.at += 1

    def _sequence_item(self) -> Any:
        return self.value()

    def _pair(self) -> tuple[Any, Any]:
        key = scalar(self._token(stop=":,}"))
        self._skip()
        if self.at < len(self.text) and self.text[self.at] == ":":
            self.at += 1
            return key, self.value()
        return key, None

    def _token(self, stop: str = ",]}") -> str:
        self._skip()
        start = self.at
        if self.at < len(self.text) and self.text[self.at] in "\"'":
            quote = self.text[self.at]
            self.at += 1
            while self.at < len(self.text):
                if self.text[self.at] == "\\" and quote == '"':
                    self.at += 2
                    continue
                if self.text[self.at] == quote:
                    if quote == "'" and self.text[self.at + 1 : self.at + 2] == "'":
                        self.at += 2
                        continue
                    self.at += 1
                    return self.text[start : self.at]
                self.at += 1
            raise TemplateSyntaxError(f"{self.where}: unclosed quote")
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in stop and (char != ":" or self.text[self.at + 1 : self.at + 2] in (" ", "")):
                break
            self.at += 1
        return self.text[start : self.at].strip()


class _Reader:
    """Block structure: indentation decides what belongs to what."""

    def __init__(self, lines: list[str], first_line: int) -> None:
        self.raw = lines
        self.first_line = first_line
        self.at = 0

    def where(self, index: int | None = None) -> str:
        return f"template.yaml line {self.first_line + (self.at if index is None else index)}"

    def _content(self, index: int) -> str:
        return _strip_comment(self.raw[index])

    def _skip_blank(self) -> None:
        while self.at < len(self.raw) and not self._content(self.at).strip():
            self.at += 1

    def has_more(self) -> bool:
        self._skip_blank()
        return self.at < len(self.raw)

    def next_indent(self, minimum: int) -> int:
        self._skip_blank()
        if self.at >= len(self.raw):
            return -1
        line = self._content(self.at)
        indent = len(line) - len(line.lstrip(" "))
        return indent if indent >= minimum else -1

    def block(self, indent: int) -> Any:
        line = self._content(self.at)[indent:]
        if line.startswith("- ") or line == "-":
            return self._sequence(indent)
        return self._mapping(indent)

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self.next_indent(indent) == indent and self._content(self.at)[indent:].startswith("-"):
            rest = self._content(self.at)[indent + 1 :]
            if not rest.strip():
                self.at += 1
                items.append(self.block(self.next_indent(indent + 1)))
                continue
            inner = indent + 1 + (len(rest) - len(rest.lstrip(" ")))
            if _KEY.match(rest.strip()) and not rest.strip().startswith(("[", "{")):
                # "- key: value": a mapping whose first key sits on the dash's line
                self.raw[self.at] = " " * inner + rest.strip()
                items.append(self._mapping(inner))
            else:
                self.at += 1
                text = rest.strip()
                items.append(_Flow(text, self.where(self.at - 1)).value() if text[0] in "[{" else scalar(text))
        return items

    def _mapping(self, indent: int) -> dict[Any, Any]:
        mapping: dict[Any, Any] = {}
        while self.next_indent(indent) == indent:
            line = self._content(self.at)[indent:]
            if line.startswith("-"):
                break
            match = _KEY.match(line)
            if not match:
                raise TemplateSyntaxError(f"{self.where()}: expected 'key: value', got {line!r}")
            key = scalar(match.group(1).strip())
            rest = match.group(2).strip()
            self.at += 1
            if rest in {">", ">-", "|", "|-"}:
                mapping[key] = self._block_scalar(indent, rest)
            elif rest.startswith(("[", "{")):
                mapping[key] = _Flow(rest, self.where(self.at - 1)).value()
            elif rest:
                mapping[key] = scalar(rest)  # a block context's plain scalar runs to the end of the line
            else:
                child = self.next_indent(indent)
                if child > indent or (child == indent and self._content(self.at)[indent:].startswith("- ")):
                    mapping[key] = self.block(child)
                else:
                    mapping[key] = None
        return mapping

    def _block_scalar(self, indent: int, style: str) -> str:
        lines: list[str] = []
        body_indent = -1
        while self.at < len(self.raw):
            raw = self.raw[self.at].rstrip()
            stripped = raw.lstrip(" ")
            current = len(raw) - len(stripped)
            if stripped and current <= indent:
                break
            if stripped and body_indent < 0:
                body_indent = current
            lines.append(raw[body_indent:] if stripped else "")
            self.at += 1
        while lines and not lines[-1]:
            lines.pop()
        if style.startswith("|"):
            text = "\n".join(lines)
        else:
            paragraphs: list[str] = []
            for line in lines:
                if not line:
                    paragraphs.append("\n")
                elif paragraphs and paragraphs[-1] != "\n":
                    paragraphs[-1] += " " + line
                else:
                    paragraphs.append(line)
            text = "".join(paragraphs)
        return text if style.endswith("-") else text + "\n"
