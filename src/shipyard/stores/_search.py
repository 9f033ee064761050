"""Turn a parsed run filter and ordering into one SQL statement.

Metrics, params and tags become ``run_id IN (subquery)`` clauses answered from the
``(key, value)`` side, and ordering keys become outer joins, so the
database does the filtering and sorting and only the page of runs asked for
comes back to Python.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, not_, or_, select

from shipyard.core.filters import BoolOp, Comparison, FieldRef, FilterNode, Not, OrderKey
from shipyard.stores._schema import latest_metrics, params, runs, tags

__all__ = ["build_search"]

_KEYED = {"metric": latest_metrics, "param": params, "tag": tags}


_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "like": lambda column, value: column.like(value),
    "ilike": lambda column, value: column.ilike(value),
    "in": lambda column, value: column.in_(value),
    "not in": lambda column, value: column.not_in(value),
}


def _condition(node: FilterNode) -> ColumnElement[bool]:
    if isinstance(node, BoolOp):
        parts = [_condition(item) for item in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    if isinstance(node, Not):
        return not_(_condition(node.item))
    return _comparison(node)


def _comparison(node: Comparison) -> ColumnElement[bool]:
    field = node.field
    if field.kind == "attribute":
        value = node.value
        if field.key == "status":  # statuses are stored upper-case; accept any case
            value = (
                tuple(str(v).upper() for v in value)
                if isinstance(value, tuple)
                else str(value).upper()
            )
        return _OPERATORS[node.op](runs.c[field.key], value)
    table = _KEYED[field.kind]
    # A run that never logged the key matches no comparison on it (``not`` inverts that).
    # ``run_id IN (subquery)`` rather than a correlated EXISTS: the database can answer
    # the subquery once from the (key, value) index instead of probing every run.
    matching = select(table.c.run_id).where(
        table.c.key == field.key, _OPERATORS[node.op](table.c.value, node.value)
    )
    return runs.c.run_id.in_(matching)


def _order_column(query: Select[Any], field: FieldRef, index: int) -> tuple[Select[Any], Any]:
    if field.kind == "attribute":
        return query, runs.c[field.key]
    table = _KEYED[field.kind].alias(f"order_{index}")
    query = query.outerjoin(table, and_(table.c.run_id == runs.c.run_id, table.c.key == field.key))
    return query, table.c.value


def build_search(
    experiment_ids: Sequence[str] | None,
    node: FilterNode | None,
    order: Sequence[OrderKey],
    max_results: int,
    offset: int = 0,
) -> Select[Any]:
    """The SELECT over ``runs`` for one page of a search, best first."""
    query = select(runs)
    if experiment_ids is not None:
        query = query.where(runs.c.experiment_id.in_(list(experiment_ids)))
    if node is not None:
        query = query.where(_condition(node))
    order_by: list[Any] = []
    for index, key in enumerate(order):
        query, column = _order_column(query, key.field, index)
        direction = column.desc() if key.descending else column.asc()
        order_by.append(direction.nulls_last())
    # Newest first among equals, then a total order so pages never overlap.
    order_by += [runs.c.start_time.desc(), runs.c.run_id.asc()]
    return query.order_by(*order_by).limit(max_results).offset(offset)
