"""The run search language: parse a filter string and ``order_by`` terms into a small tree.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" or_expr ")" | comparison
    comparison := field op value | field ["not"] "in" "(" value ("," value)* ")"
    field      := ("metrics" | "params" | "tags" | "attributes") "." key | attribute
    key        := name | `quoted key` | "quoted key"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"

Examples: ``metrics.auc > 0.8 and params.model = 'gbm'``,
``tags.`shipyard.git.dirty` = 'false' or status in ('FAILED', 'KILLED')``.

Metrics compare numerically (against the latest value of the key); params and tags
are strings and take ``=``, ``!=``, ``like``, ``ilike`` and ``in``; attributes are
``run_id``, ``name``, ``status``, ``start_time`` and ``end_time`` (epoch milliseconds
or an ISO date). The store turns the tree into SQL, so nothing loads every run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from shipyard.core.errors import InvalidFilterError
from shipyard.core.ids import to_ms

__all__ = [
    "ATTRIBUTES",
    "BoolOp",
    "Comparison",
    "FieldRef",
    "FilterNode",
    "Not",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]

Kind = Literal["metric", "param", "tag", "attribute"]
Value: TypeAlias = float | str

_KIND_PREFIXES: dict[str, Kind] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
#: attribute name -> value type; aliases below map friendly spellings onto these.
ATTRIBUTES: dict[str, Literal["str", "time"]] = {
    "run_id": "str",
    "name": "str",
    "status": "str",
    "experiment_id": "str",
    "start_time": "time",
    "end_time": "time",
}
_ATTRIBUTE_ALIASES = {"run_name": "name", "id": "run_id", "created": "start_time"}
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "like", "ilike", "in", "not in"})


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A metric, param, tag or run attribute named in a filter or ordering."""

    kind: Kind
    key: str

    def __str__(self) -> str:
        return f"{self.kind}s.{self.key}" if self.kind != "attribute" else self.key


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; for ``in`` and ``not in`` the value is a tuple."""

    field: FieldRef
    op: str
    value: Value | tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``and`` / ``or`` over two or more nodes."""

    op: Literal["and", "or"]
    items: tuple[FilterNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of a node."""

    item: FilterNode


FilterNode: TypeAlias = Comparison | BoolOp | Not


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``order_by`` term; runs without the field sort last either way."""

    field: FieldRef
    descending: bool = False


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<backtick>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w.])
               | [-+](?i:inf(?:inity)?|nan)(?![\w.]))
  | (?P<name>[A-Za-z_][\w.\-/:]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # op, punct, string, number, name, keyword, end
    text: str
    pos: int

    @property
    def value(self) -> str:
        if self.kind == "string":
            quote = self.text[0]
            return self.text[1:-1].replace(quote * 2, quote)
        if self.text.startswith("`"):
            return self.text[1:-1]
        return self.text


def _fail(source: str, pos: int, message: str) -> InvalidFilterError:
    caret = " " * pos + "^"
    return InvalidFilterError(f"invalid filter at position {pos}: {message}\n  {source}\n  {caret}")


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise _fail(source, pos, f"unexpected character {source[pos]!r}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        elif kind == "backtick":
            kind = "name"
        if kind != "ws":
            # `metrics.` followed by a quoted key joins into one field name.
            prev = tokens[-1] if tokens else None
            quoted_key = kind in ("string", "name") and text[0] in "`'\""
            if prev and prev.kind == "name" and prev.text.endswith(".") and quoted_key:
                key = _Token(kind, text, match.start()).value
                tokens[-1] = _Token("name", prev.text + "`" + key + "`", prev.pos)
            else:
                tokens.append(_Token(kind, text, match.start()))
        pos = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _field(source: str, token: _Token) -> FieldRef:
    text = token.text
    if text.startswith("`"):
        text = text[1:-1]
    prefix, dot, rest = text.partition(".")
    kind = _KIND_PREFIXES.get(prefix.lower()) if dot else None
    if kind is None:
        kind, rest = "attribute", text
    if rest.startswith("`") and rest.endswith("`") and len(rest) >= 2:
        rest = rest[1:-1]
    if not rest:
        raise _fail(source, token.pos, f"{prefix!r} needs a key after the dot, e.g. {prefix}.auc")
    if kind == "attribute":
        name = _ATTRIBUTE_ALIASES.get(rest.lower(), rest.lower())
        if name not in ATTRIBUTES:
            known = ", ".join(sorted(ATTRIBUTES))
            raise _fail(
                source,
                token.pos,
                f"unknown field {text!r}; use metrics.KEY, params.KEY, tags.KEY or one of: {known}",
            )
        rest = name
    return FieldRef(kind, rest)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_keyword(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.text == word

    def expect_punct(self, char: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != char:
            raise _fail(self.source, self.tok.pos, f"expected {char!r}, got {self._shown()}")
        self.i += 1

    def _shown(self, tok: _Token | None = None) -> str:
        tok = self.tok if tok is None else tok
        return "the end of the filter" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> FilterNode:
        node = self.or_expr()
        if self.tok.kind != "end":
            raise _fail(
                self.source, self.tok.pos, f"expected 'and', 'or' or the end, got {self._shown()}"
            )
        return node

    def or_expr(self) -> FilterNode:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> FilterNode:
        items = [self.unary()]
        while self.at_keyword("and"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> FilterNode:
        if self.at_keyword("not"):
            self.i += 1
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.i += 1
            node = self.or_expr()
            self.expect_punct(")")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        tok = self.take()
        if tok.kind != "name":
            raise _fail(
                self.source,
                tok.pos,
                f"expected a field such as metrics.auc, got {self._shown(tok)}",
            )
        field = _field(self.source, tok)
        op_tok = self.tok
        if op_tok.kind == "op":
            self.i += 1
            op = {"==": "=", "<>": "!="}.get(op_tok.text, op_tok.text)
        elif op_tok.kind == "keyword" and op_tok.text in ("like", "ilike", "in"):
            self.i += 1
            op = op_tok.text
        elif self.at_keyword("not") and self.tokens[self.i + 1].text == "in":
            self.i += 2
            op = "not in"
        else:
            raise _fail(
                self.source,
                op_tok.pos,
                f"expected a comparison (=, !=, <, <=, >, >=, like, ilike, in) after "
                f"{tok.text!r}, got {self._shown()}",
            )
        # Check the operator before the value, so `metrics.a like 'x'` names the operator.
        self._check_op(field, op, op_tok)
        value: Value | tuple[Value, ...]
        if op in ("in", "not in"):
            self.expect_punct("(")
            values = [self.value(field)]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.i += 1
                values.append(self.value(field))
            self.expect_punct(")")
            value = tuple(values)
        else:
            value = self.value(field)
        return Comparison(field, op, value)

    def _check_op(self, field: FieldRef, op: str, tok: _Token) -> None:
        numeric = field.kind == "metric" or (
            field.kind == "attribute" and ATTRIBUTES[field.key] == "time"
        )
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise _fail(
                self.source,
                tok.pos,
                f"{field} does not support {op!r}; use one of {', '.join(sorted(allowed))}",
            )

    def value(self, field: FieldRef) -> Value:
        tok = self.take()
        if tok.kind not in ("string", "number") and not (
            tok.kind == "name" and tok.text.lower() in ("inf", "infinity", "nan")
        ):
            raise _fail(self.source, tok.pos, f"expected a value, got {self._shown(tok)}")
        if field.kind == "metric":
            return self._number(tok, field)
        if field.kind == "attribute" and ATTRIBUTES[field.key] == "time":
            if tok.kind == "number":
                return float(tok.text)
            try:
                return float(to_ms(datetime.fromisoformat(tok.value)))
            except ValueError:
                raise _fail(
                    self.source,
                    tok.pos,
                    f"{field} takes epoch milliseconds or an ISO date, got {tok.text!r}",
                ) from None
        # Params and tags are strings: a bare number compares as the text written.
        return tok.value

    def _number(self, tok: _Token, field: FieldRef) -> float:
        try:
            number = float(tok.value)
        except ValueError:
            raise _fail(
                self.source, tok.pos, f"{field} is numeric; got {tok.text!r}, expected a number"
            ) from None
        if math.isnan(number):
            raise _fail(self.source, tok.pos, "NaN never compares equal; filter on another value")
        return number


def parse_filter(text: str | None) -> FilterNode | None:
    """Parse a filter string; None or blank means no filter.

    Raises:
        InvalidFilterError: with the position of the problem and what was expected.

    Example:
        >>> parse_filter("metrics.auc > 0.8")
        Comparison(field=FieldRef(kind='metric', key='auc'), op='>', value=0.8)
    """
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


def parse_order_by(terms: Iterable[str] | str | None) -> list[OrderKey]:
    """Parse ``order_by`` terms such as ``"metrics.auc DESC"`` or ``"start_time"``."""
    if terms is None:
        return []
    if isinstance(terms, str):
        terms = [terms]
    keys: list[OrderKey] = []
    for term in terms:
        tokens = _tokenize(term)
        if tokens[0].kind != "name":
            raise _fail(term, tokens[0].pos, "expected a field such as metrics.auc")
        field = _field(term, tokens[0])
        rest = [t for t in tokens[1:] if t.kind != "end"]
        direction = rest[0].text.lower() if rest else "asc"
        if len(rest) > 1 or direction not in ("asc", "desc"):
            # Point at the bad direction, or at what follows a good one.
            pos = rest[0].pos if direction not in ("asc", "desc") else rest[1].pos
            raise _fail(term, pos, "an order_by term is a field optionally followed by ASC or DESC")
        keys.append(OrderKey(field, descending=direction == "desc"))
    return keys
