"""CloudWatch Logs JSON filter patterns, evaluated locally (moto ignores them; this does not).

Implements the JSON form of the filter-pattern syntax in the CloudWatch Logs User Guide ("Filter pattern
syntax for metric filters, subscription filters, filter log events, and Live Tail" -> "Using filter patterns
to match terms in JSON log events"):

* ``{ SELECTOR OP VALUE }`` - selectors ``$.a.b``, ``$.a[0]``, ``$.a[0][1].b`` (names: letters, digits,
  ``-`` and ``_``); ``=`` / ``!=`` with a string (quoted, or unquoted when made of letters, digits and
  ``. - _ *``) where ``*`` at the start and/or end is a wildcard (``*Event``, ``Event*``, ``*html*``;
  ``Ev*ent`` is the literal text) and a lone ``*`` matches any value; ``= != < > <= >=`` with a number
  (``10``, ``-5.5``, ``+1000``, ``10e-3``).
* ``SELECTOR IS TRUE`` / ``IS FALSE`` / ``IS NULL`` / ``NOT EXISTS``.
* ``&&`` binds tighter than ``||``; parentheses group.

Semantics, as documented: the event must be a JSON object, otherwise no JSON pattern matches it; a
selector that points to an array or an object, or to nothing, makes a comparison false (``=`` and ``!=``
alike); ``IS NULL`` is true only for an explicit ``null``, ``NOT EXISTS`` only for an absent property;
``IS TRUE``/``IS FALSE`` only for JSON booleans. Where the guide is silent this evaluator is strict: a
string comparison never matches a number or a boolean, a numeric one never matches a string, and
booleans are tested only with ``IS TRUE``/``IS FALSE``.

Anything else - text patterns (``ERROR``, ``"is non-compliant!"``), space-delimited ``[a, b]`` patterns,
regular expressions ``%…%``, ``$.*`` selectors, unquoted ``true``/``null``, ``==``, lower-case keywords -
raises :class:`FilterPatternError`, so a typo in a template pattern fails a test instead of silently
matching everything or nothing.

API: ``matches(pattern, event) -> bool``, ``parse(pattern) -> Expr``, ``selectors(pattern) -> list[str]``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Union

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "FilterPatternError",
    "Or",
    "Selector",
    "Test",
    "matches",
    "parse",
    "selectors",
]


class FilterPatternError(ValueError):
    """The pattern is not a JSON filter pattern this evaluator understands."""


# --------------------------------------------------------------------------- AST
@dataclass(frozen=True)
class Selector:
    text: str
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class StringValue:
    text: str  # with wildcards as written

    def matches(self, value: str) -> bool:
        text = self.text
        if text == "*":
            return True
        leading, trailing = text.startswith("*"), text.endswith("*") and len(text) > 1
        core = text[1 if leading else 0 : len(text) - 1 if trailing else len(text)]
        if leading and trailing:
            return core in value
        if leading:
            return value.endswith(core)
        if trailing:
            return value.startswith(core)
        return value == core


@dataclass(frozen=True)
class NumberValue:
    value: float


Op = Literal["=", "!=", "<", ">", "<=", ">="]


@dataclass(frozen=True)
class Comparison:
    selector: Selector
    op: Op
    value: StringValue | NumberValue


@dataclass(frozen=True)
class Test:
    selector: Selector
    test: Literal["IS TRUE", "IS FALSE", "IS NULL", "NOT EXISTS"]


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr = Union[Comparison, Test, And, Or]  # noqa: UP007 - a runtime alias


# --------------------------------------------------------------------------- tokenizer
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<and>&&)
  | (?P<or>\|\|)
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<selector>\$[^\s()=!<>&|]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<regex>%[^%]*%)
  | (?P<word>[A-Za-z0-9_.*+\-]+)
    """,
    re.VERBOSE,
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_UNQUOTED_STRING = re.compile(r"[A-Za-z0-9_.*-]+")
_SELECTOR_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(body: str, offset: int) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if m is None or m.end() == pos:
            raise FilterPatternError(f"unexpected {body[pos : pos + 12]!r} at column {offset + pos + 1}")
        kind = m.lastgroup or ""
        if kind == "regex":
            raise FilterPatternError(
                f"regular expressions ({m.group()}) are not supported by this evaluator (column {offset + pos + 1})"
            )
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), offset + pos))
        pos = m.end()
    return tokens


def _parse_selector(token: _Token) -> Selector:
    text = token.text
    path: list[str | int] = []
    pos = 1
    while pos < len(text):
        m = _SELECTOR_PART.match(text, pos)
        if m is None:
            raise FilterPatternError(f"bad selector {text!r} at column {token.pos + 1}")
        path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not path or not isinstance(path[0], str):
        raise FilterPatternError(f"selector {text!r} must start with a property, like $.name")
    return Selector(text, tuple(path))


def _unescape(token: _Token) -> str:
    out: list[str] = []
    body = token.text[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in {'"', "\\"}:
                raise FilterPatternError(f"unsupported escape \\{nxt} in {token.text} at column {token.pos + 1}")
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- parser
class _Parser:
    def __init__(self, tokens: list[_Token], end_pos: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.end_pos = end_pos

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterPatternError(f"expected {what} at column {self.end_pos + 1}, the pattern ended")
        self.i += 1
        return token

    def parse(self) -> Expr:
        if not self.tokens:
            raise FilterPatternError("empty JSON pattern {}")
        expr = self.or_expr()
        token = self.peek()
        if token is not None:
            raise FilterPatternError(f"unexpected {token.text!r} at column {token.pos + 1}")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.primary()]
        while (token := self.peek()) is not None and token.kind == "and":
            self.i += 1
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self) -> Expr:
        token = self.take("a selector or '('")
        if token.kind == "lparen":
            expr = self.or_expr()
            close = self.take("')'")
            if close.kind != "rparen":
                raise FilterPatternError(f"expected ')' at column {close.pos + 1}, got {close.text!r}")
            return expr
        if token.kind != "selector":
            raise FilterPatternError(
                f"expected a selector like $.field at column {token.pos + 1}, got {token.text!r}"
                " (text terms are not allowed inside a JSON pattern)"
            )
        selector = _parse_selector(token)
        nxt = self.take("an operator, IS … or NOT EXISTS")
        if nxt.kind == "op":
            return self.comparison(selector, nxt)
        if nxt.kind == "word" and nxt.text == "IS":
            what = self.take("TRUE, FALSE or NULL")
            if what.kind == "word" and what.text in {"TRUE", "FALSE", "NULL"}:
                return Test(selector, f"IS {what.text}")  # type: ignore[arg-type]
            raise FilterPatternError(f"expected TRUE, FALSE or NULL at column {what.pos + 1}, got {what.text!r}")
        if nxt.kind == "word" and nxt.text == "NOT":
            what = self.take("EXISTS")
            if what.kind == "word" and what.text == "EXISTS":
                return Test(selector, "NOT EXISTS")
            raise FilterPatternError(f"expected EXISTS at column {what.pos + 1}, got {what.text!r}")
        raise FilterPatternError(
            f"expected an operator, IS TRUE/FALSE/NULL or NOT EXISTS after {selector.text} at column "
            f"{nxt.pos + 1}, got {nxt.text!r}"
        )

    def comparison(self, selector: Selector, op_token: _Token) -> Comparison:
        op: Op = op_token.text  # type: ignore[assignment]
        value_token = self.take("a value")
        value: StringValue | NumberValue
        if value_token.kind == "string":
            value = StringValue(_unescape(value_token))
        elif value_token.kind == "word" and _NUMBER.fullmatch(value_token.text):
            number = float(value_token.text)
            if not math.isfinite(number):
                raise FilterPatternError(f"number out of range: {value_token.text}")
            value = NumberValue(number)
        elif value_token.kind == "word" and _UNQUOTED_STRING.fullmatch(value_token.text):
            if value_token.text.lower() in {"true", "false", "null"}:
                raise FilterPatternError(
                    f"unquoted {value_token.text!r} at column {value_token.pos + 1}: "
                    "use IS TRUE, IS FALSE or IS NULL (or quote the string)"
                )
            value = StringValue(value_token.text)
        else:
            raise FilterPatternError(f"expected a value at column {value_token.pos + 1}, got {value_token.text!r}")
        if op not in {"=", "!="} and not isinstance(value, NumberValue):
            raise FilterPatternError(f"{op} needs a number at column {value_token.pos + 1}, got {value_token.text!r}")
        return Comparison(selector, op, value)


def parse(pattern: str) -> Expr:
    """Parse a JSON filter pattern ``{ … }``; raise FilterPatternError on anything else."""
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise FilterPatternError(f"not a JSON filter pattern (must be enclosed in {{ }}): {pattern!r}")
    offset = pattern.index("{") + 1
    body = text[1:-1]
    return _Parser(_tokenize(body, offset), offset + len(body)).parse()


def selectors(pattern: str) -> list[str]:
    """The selectors a pattern reads, in order of appearance (e.g. ``["$.kind", "$.verdict"]``)."""
    found: list[str] = []

    def walk(expr: Expr) -> None:
        if isinstance(expr, And | Or):
            for item in expr.items:
                walk(item)
        else:
            found.append(expr.selector.text)

    walk(parse(pattern))
    return found


# --------------------------------------------------------------------------- evaluation
_MISSING = object()


def _select(document: Any, path: tuple[str | int, ...]) -> Any:
    node = document
    for part in path:
        if isinstance(part, str):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        else:
            if not isinstance(node, list) or part >= len(node):
                return _MISSING
            node = node[part]
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(expr: Comparison, node: Any) -> bool:
    if node is _MISSING or node is None or isinstance(node, dict | list):
        return False
    if isinstance(expr.value, NumberValue):
        if not _is_number(node):
            return False
        left, right = float(node), expr.value.value
        return {
            "=": left == right,
            "!=": left != right,
            "<": left < right,
            ">": left > right,
            "<=": left <= right,
            ">=": left >= right,
        }[expr.op]
    if expr.value.text == "*" and expr.op == "=":
        return isinstance(node, str) or _is_number(node)
    if not isinstance(node, str):
        return False
    hit = expr.value.matches(node)
    return hit if expr.op == "=" else not hit


def _evaluate(expr: Expr, document: Any) -> bool:
    if isinstance(expr, And):
        return all(_evaluate(item, document) for item in expr.items)
    if isinstance(expr, Or):
        return any(_evaluate(item, document) for item in expr.items)
    node = _select(document, expr.selector.path)
    if isinstance(expr, Test):
        if expr.test == "NOT EXISTS":
            return node is _MISSING
        if expr.test == "IS NULL":
            return node is None
        return node is (expr.test == "IS TRUE")
    return _compare(expr, node)


def matches(pattern: str, event: str) -> bool:
    """True when the log event (one line of text) matches the JSON filter pattern.

    Raises FilterPatternError for a pattern this evaluator does not understand. A log event that is not a
    JSON object never matches.
    """
    expr = parse(pattern)
    try:
        document = json.loads(event)
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    return _evaluate(expr, document)
