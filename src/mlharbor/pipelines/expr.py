"""A tiny expression language for promotion gates and row filters: parsed, never ``eval``-ed.

A gate such as ``f1 > champion.f1 + 0.01`` or a filter such as ``spam != null and
num_char > 1`` is read by a hand-written recursive-descent parser into a small tree, then
evaluated by walking that tree. Nothing in the text can reach Python: there are no calls,
no attributes, no subscripts and no names but the ones the caller puts in the context
(looked up in dictionaries, never with ``getattr``); a name starting with ``_`` is refused.

Grammar (lowest precedence first)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum | ["not"] "in" list]
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | STRING | "true" | "false" | "null" | NAME ("." NAME)* | "(" expr ")"
    list    := "[" [atom ("," atom)*] "]"

``NAME`` is a letter followed by letters, digits and ``_``, or any text in backticks (a
column name with spaces). Values may be numbers, strings, booleans, ``null`` or, for
filters, whole columns (pandas Series): comparisons then give a boolean column, ``and``,
``or`` and ``not`` combine columns element-wise, and ``== null`` tests for missing values.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlharbor.errors import InvalidInputError

#: The longest expression accepted, and the deepest nesting: a gate is a line, not a program.
MAX_LENGTH = 500
MAX_DEPTH = 32

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
      | (?P<string>'[^'\\]*'|"[^"\\]*")
      | (?P<quoted>`[^`]+`)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


class ExpressionError(InvalidInputError):
    """An expression that does not parse, or names something its context does not have."""


class MissingValue(LookupError):
    """A name whose value is absent (``champion.f1`` before there is a champion)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression: ``op`` and its operands (or its value)."""

    op: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            rest = stripped[pos:].lstrip()
            where = len(stripped) - len(rest) + 1
            raise ExpressionError(
                f"unexpected character {rest[:1]!r} at position {where} of {text!r}"
            )
        kind = match.lastgroup or "op"
        value, start = match.group(kind), match.start(kind) + 1
        if kind == "name" and value in _KEYWORDS:
            kind = "keyword"
        out.append(_Tok(kind, value, start))
        pos = match.end()
    out.append(_Tok("end", "", len(stripped) + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, what: str) -> ExpressionError:
        found = "the end" if self.tok.kind == "end" else repr(self.tok.text)
        return ExpressionError(f"{what}, found {found} at position {self.tok.pos} of {self.text!r}")

    def take(self, kind: str, text: str | None = None) -> _Tok | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str) -> None:
        if self.take(kind, text) is None:
            raise self.error(f"expected {text!r}")

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH} levels")

    def parse(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise self.error("expected an operator or the end")
        return node

    def expr(self) -> Node:
        self.nested()
        node = self.conj()
        while self.take("keyword", "or"):
            node = Node("or", (node, self.conj()))
        self.depth -= 1
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.take("keyword", "and"):
            node = Node("and", (node, self.neg()))
        return node

    def neg(self) -> Node:
        if self.take("keyword", "not"):
            self.nested()
            node = Node("not", (self.neg(),))
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        left = self.sum()
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARE:
            self.i += 1
            node = Node(tok.text, (left, self.sum()))
            if self.tok.kind == "op" and self.tok.text in _COMPARE:
                raise self.error("comparisons cannot be chained; join them with 'and'")
            return node
        negate = False
        if tok.kind == "keyword" and tok.text == "not" and self.toks[self.i + 1].text == "in":
            self.i += 1
            negate = True
        if self.take("keyword", "in"):
            node = Node("in", (left, self.values()))
            return Node("not", (node,)) if negate else node
        return left

    def values(self) -> tuple[Any, ...]:
        self.expect("op", "[")
        items: list[Any] = []
        if not self.take("op", "]"):
            while True:
                items.append(self.literal())
                if self.take("op", "]"):
                    break
                self.expect("op", ",")
        return tuple(items)

    def literal(self) -> Any:
        negative = bool(self.take("op", "-"))
        node = self.atom()
        if node.op != "const" or (negative and not isinstance(node.args[0], int | float)):
            raise self.error("a list holds literal values only")
        return -node.args[0] if negative else node.args[0]

    def sum(self) -> Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.tok.text
            self.i += 1
            node = Node(op, (node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.tok.text
            self.i += 1
            node = Node(op, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.take("op", "-"):
            self.nested()
            node = Node("neg", (self.unary(),))
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            value = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            if isinstance(value, int) and value.bit_length() > 64:
                raise ExpressionError(f"the number {tok.text} is too large")
            return Node("const", (value,))
        if tok.kind == "string":
            self.i += 1
            return Node("const", (tok.text[1:-1],))
        if tok.kind == "keyword" and tok.text in ("true", "false", "null"):
            self.i += 1
            return Node("const", ({"true": True, "false": False, "null": None}[tok.text],))
        if tok.kind in ("name", "quoted"):
            self.i += 1
            parts = [self._name(tok)]
            while self.take("op", "."):
                part = self.take("name") or self.take("quoted")
                if part is None:
                    raise self.error("expected a name after '.'")
                parts.append(self._name(part))
            return Node("name", tuple(parts))
        if self.take("op", "("):
            node = self.expr()
            self.expect("op", ")")
            return node
        raise self.error("expected a value, a name or '('")

    def _name(self, tok: _Tok) -> str:
        name = tok.text[1:-1] if tok.kind == "quoted" else tok.text
        if name.startswith("_"):
            raise ExpressionError(
                f"names may not start with '_' ({name!r} at position {tok.pos} of {self.text!r})"
            )
        return name


def parse(text: str) -> Node:
    """Parse ``text`` into an expression tree.

    Raises
    ------
    ExpressionError
        Not an expression of the grammar (the message names the position), too long or
        too deeply nested.

    Examples
    --------
    >>> parse("f1 > champion.f1 + 0.01").op
    '>'
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    return _Parser(text).parse()


def names(node: Node) -> set[tuple[str, ...]]:
    """Every dotted name an expression reads, e.g. ``{("champion", "f1"), ("f1",)}``."""
    if node.op == "name":
        return {node.args}
    if node.op == "const":
        return set()
    found: set[tuple[str, ...]] = set()
    for arg in node.args:
        if isinstance(arg, Node):
            found |= names(arg)
    return found


def _is_column(value: Any) -> bool:
    return hasattr(value, "to_numpy") or hasattr(value, "__array__")


def _lookup(parts: tuple[str, ...], context: Mapping[str, Any]) -> Any:
    value: Any = context
    for depth, part in enumerate(parts):
        if not isinstance(value, Mapping):
            raise ExpressionError(f"{'.'.join(parts[:depth])} has no field {part!r}")
        if part not in value:
            shown = ".".join(parts[: depth + 1])
            known = ", ".join(sorted(str(k) for k in value)) or "none"
            raise ExpressionError(f"unknown name {shown!r}; known here: {known}")
        value = value[part]
        if value is None and depth < len(parts) - 1:
            raise MissingValue(".".join(parts[: depth + 1]))
    return value


def _number(value: Any, what: str) -> Any:
    if _is_column(value):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"{what} needs numbers, got {value!r}")
    return value


def evaluate(node: Node, context: Mapping[str, Any]) -> Any:
    """The value of a parsed expression with names looked up in ``context``.

    Raises
    ------
    ExpressionError
        An unknown name, or an operation on values it does not apply to.
    MissingValue
        A dotted name goes through a ``null`` (``champion.f1`` with no champion).
    """
    op, args = node.op, node.args
    if op == "const":
        return args[0]
    if op == "name":
        return _lookup(args, context)
    if op == "and" or op == "or":
        left, right = evaluate(args[0], context), evaluate(args[1], context)
        if _is_column(left) or _is_column(right):
            return (left & right) if op == "and" else (left | right)
        return (bool(left) and bool(right)) if op == "and" else (bool(left) or bool(right))
    if op == "not":
        value = evaluate(args[0], context)
        return ~value if _is_column(value) else not value
    if op == "neg":
        return -_number(evaluate(args[0], context), "'-'")
    if op == "in":
        value = evaluate(args[0], context)
        if _is_column(value):
            return value.isin(list(args[1]))
        return value in args[1]
    left, right = evaluate(args[0], context), evaluate(args[1], context)
    if op in _COMPARE:
        return _compare(op, left, right)
    if op in _ARITH:
        left, right = _number(left, f"'{op}'"), _number(right, f"'{op}'")
        if op == "/" and not _is_column(right) and right == 0:
            raise ExpressionError("division by zero")
        return _ARITH[op](left, right)
    raise ExpressionError(f"unknown operation {op!r}")  # pragma: no cover - parser's ops only


def _compare(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        other = right if left is None else left
        if op not in ("==", "!="):
            raise ExpressionError(f"'{op}' cannot compare with null")
        if _is_column(other):
            return other.isna() if op == "==" else other.notna()
        same = left is None and right is None
        return same if op == "==" else not same
    if not _is_column(left) and not _is_column(right):
        numeric = isinstance(left, int | float) and isinstance(right, int | float)
        if op not in ("==", "!=") and not numeric and type(left) is not type(right):
            raise ExpressionError(f"cannot compare {left!r} {op} {right!r}")
        if numeric and any(isinstance(v, float) and math.isnan(v) for v in (left, right)):
            return op == "!="
    return _COMPARE[op](left, right)


def check_names(node: Node, allowed: Mapping[str, Any], where: str) -> None:
    """Refuse an expression that reads a name whose first part ``allowed`` lacks."""
    for parts in names(node):
        if parts[0] not in allowed:
            known = ", ".join(sorted(allowed))
            raise ExpressionError(f"{where}: unknown name {parts[0]!r}; known: {known}")
