"""Validation errors: one ColumnError per problem, all raised as one SchemaValidationError."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature._values import _describe

__all__ = ["DEFAULT_MAX_ERRORS", "ColumnError", "SchemaValidationError"]

#: How many errors a :class:`SchemaValidationError` lists; the rest are only counted.
DEFAULT_MAX_ERRORS = 20


@dataclass(frozen=True, slots=True)
class ColumnError:
    """One problem with a request: where it is, what was expected and what came.

    ``column`` is None for a problem with the request's shape (a record that is not an
    object); ``row`` is None for a problem with a whole column (missing, extra, a tensor).
    Rows count from 0 in the order the request sent them.
    """

    column: str | None
    row: int | None
    expected: str
    got: str
    message: str

    def to_dict(self) -> dict[str, object]:
        """The JSON form the server puts in an error body."""
        return {
            "column": self.column,
            "row": self.row,
            "expected": self.expected,
            "got": self.got,
            "message": self.message,
        }


class SchemaValidationError(InvalidInputError):
    """A request does not match the model's signature; ``errors`` lists the first problems.

    Args:
        message: The whole report, one line per listed error.
        errors: The listed problems (at most the validation's ``max_errors``).
        error_count: How many problems were found in all, listed or not.
    """

    def __init__(
        self, message: str, errors: Sequence[ColumnError] = (), error_count: int | None = None
    ) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.error_count = len(self.errors) if error_count is None else error_count

    def details(self) -> list[dict[str, object]]:
        """One entry per listed problem: column, row, expected, got and message."""
        return [e.to_dict() for e in self.errors]

    def to_dict(self) -> dict[str, object]:
        """The JSON body: the base fields, the listed problems and ``error_count``."""
        body = super().to_dict()
        inner = body["error"]
        assert isinstance(inner, dict)
        inner["error_count"] = self.error_count
        return body


@dataclass
class _Issue:
    """A group of errors of one kind in one column, rows kept as an array until listed."""

    column: str | None
    position: int
    expected: str
    hint: str = ""
    rows: Any = None  # an int array of row positions; None for a whole-column problem
    values: Any = None  # the column's raw values, to describe the listed rows
    got: str = ""

    @property
    def count(self) -> int:
        return 1 if self.rows is None else len(self.rows)

    def error(self, index: int) -> ColumnError:
        row = None if self.rows is None else int(self.rows[index])
        got = self.got if row is None else _describe(self.values[row])
        where = ", ".join(
            part
            for part in (
                f"column {self.column!r}" if self.column is not None else "",
                f"row {row}" if row is not None else "",
            )
            if part
        )
        message = f"{where}: expected {self.expected}, got {got}"
        if self.hint:
            message += f"; {self.hint}"
        return ColumnError(self.column, row, self.expected, got, message)


class _Issues:
    """Collects issues while validating and turns them into one SchemaValidationError."""

    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors
        self.items: list[_Issue] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, issue: _Issue) -> None:
        if issue.count:
            self.items.append(issue)

    def select(self) -> list[ColumnError]:
        """The listed errors: one of each group first, then the rest in row order."""
        cap = self.max_errors
        picked: list[tuple[int, int]] = [(g, 0) for g in range(len(self.items))][:cap]
        rest = [
            (g, i) for g, issue in enumerate(self.items) for i in range(1, min(issue.count, cap))
        ]
        picked += sorted(rest, key=lambda gi: self._order(*gi))[: max(cap - len(picked), 0)]
        picked.sort(key=lambda gi: self._order(*gi))
        return [self.items[g].error(i) for g, i in picked]

    def _order(self, group: int, index: int) -> tuple[int, int, int]:
        issue = self.items[group]
        row = -1 if issue.rows is None else int(issue.rows[index])
        return row, issue.position, group

    def error(self, what: str, expected_line: str) -> SchemaValidationError:
        total = sum(issue.count for issue in self.items)
        listed = self.select()
        per_column: dict[str, int] = {}
        for issue in self.items:
            key = issue.column if issue.column is not None else "(request)"
            per_column[key] = per_column.get(key, 0) + issue.count
        summary = ", ".join(f"{name!r}: {count}" for name, count in per_column.items())
        noun = "problem" if total == 1 else "problems"
        lines = [f"{what} does not match the model's signature: {total} {noun} ({summary})."]
        lines += [f"  {e.message}" for e in listed]
        if total > len(listed):
            lines.append(f"  ... and {total - len(listed)} more")
        lines.append(f"Expected {expected_line}.")
        return SchemaValidationError("\n".join(lines), listed, total)
