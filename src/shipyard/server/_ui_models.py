"""The dashboard's models pages: the registry, one model's versions, one version's lineage."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shipyard.core.entities import AliasEvent, Endpoint, ModelVersion
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.server._ui import chart, esc, fmt, link, page, problem_page, section, store_of, table
from shipyard.server._ui_charts import graph_chart
from shipyard.server._ui_runs import run_url
from shipyard.services import (
    Lineage,
    alias_history,
    get_model,
    get_model_version,
    list_endpoints,
    list_model_versions,
    list_models,
    model_lineage,
)

__all__ = ["endpoint_roles", "lineage_option", "model_url", "router", "version_url"]

router = APIRouter(prefix="/ui", include_in_schema=False)

_MAX_METRIC_COLUMNS = 6
_LINEAGE_KINDS = ("dataset", "run", "version", "endpoint")


def model_url(name: str) -> str:
    """The dashboard page of a registered model."""
    return f"/ui/models/{quote(name, safe='')}"


def version_url(name: str, version: int) -> str:
    """The dashboard page of a model version."""
    return f"{model_url(name)}/{int(version)}"


def _badges(names: Sequence[str], kind: str = "") -> str:
    return " ".join(f'<span class="badge {kind}">{esc(n)}</span>' for n in names)


def _problem(title: str, message: str, status: int, *, crumbs: Sequence[str] = ()) -> HTMLResponse:
    return problem_page(title, message, status, active="Models", crumbs=crumbs)


def endpoint_roles(endpoint: Endpoint, version: ModelVersion) -> list[str]:
    """What part a version plays in an endpoint's traffic: primary, canary, shadow or none."""
    if endpoint.model_name != version.name:
        return []
    roles = []
    if endpoint.alias is not None:
        if endpoint.alias in version.aliases:
            roles.append("primary")
    elif endpoint.version == version.version:
        roles.append("primary")
    if endpoint.canary_version == version.version and "primary" not in roles:
        roles.append(f"canary {endpoint.canary_percent:g}%")
    if version.version in endpoint.shadow_versions and not roles:
        roles.append("shadow")
    return roles


# -- every model --------------------------------------------------------------------------


def _models_body(store: Any) -> str:
    models = list_models(store=store)
    serving: dict[str, int] = {}
    for e in list_endpoints(store=store):
        serving[e.model_name] = serving.get(e.model_name, 0) + 1
    rows = [
        [
            link(model_url(m.name), m.name),
            link(version_url(m.name, m.latest_version), f"v{m.latest_version}")
            if m.latest_version
            else "-",
            _badges([f"{a} → v{v}" for a, v in sorted(m.aliases.items())]),
            esc(serving.get(m.name, 0)),
            esc(m.description),
            esc(fmt(m.updated_at)),
        ]
        for m in models
    ]
    return section(
        "Registered models",
        table(
            ["model", "latest", "aliases", "endpoints", "description", "updated"],
            rows,
            empty="No model is registered yet.",
            test_id="models-table",
        ),
    )


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request) -> HTMLResponse:
    """Every registered model with its latest version and aliases."""
    body = await asyncio.to_thread(_models_body, store_of(request))
    return page("Models", body, active="Models")


# -- one model ----------------------------------------------------------------------------


def _alias_change(event: AliasEvent) -> str:
    if event.version is None:
        return f"deleted (was v{event.previous_version})"
    if event.previous_version is None:
        return f"set to v{event.version}"
    return f"v{event.previous_version} → v{event.version}"


def _model_body(store: Any, name: str) -> str:
    model = get_model(name, store=store)
    versions = list_model_versions(name, store=store)
    history = alias_history(name, store=store)
    endpoints = [e for e in list_endpoints(store=store) if e.model_name == name]
    keys = sorted({k for v in versions for k in v.metrics})[:_MAX_METRIC_COLUMNS]
    rows = [
        [
            link(version_url(name, v.version), f"v{v.version}"),
            _badges(v.aliases, "ok"),
            esc(v.flavor),
            *(esc(fmt(v.metrics.get(k))) for k in keys),
            link(run_url(v.run_id), v.run_id[:8]) if v.run_id else "-",
            esc(fmt(v.created_at)),
            esc(v.created_by),
        ]
        for v in reversed(versions)
    ]
    version_table = table(
        ["version", "aliases", "flavor", *(esc(k) for k in keys), "run", "created", "by"],
        rows,
        empty="No version yet.",
        test_id="versions-table",
    )
    events = [
        [esc(fmt(e.at)), _badges([e.alias]), esc(_alias_change(e)), esc(e.by)]
        for e in reversed(history)
    ]
    served = [
        [link(f"/ui/endpoints/{quote(e.name, safe='')}", e.name), esc(e.target)] for e in endpoints
    ]
    tags = [[esc(k), esc(v)] for k, v in sorted(model.tags.items())]
    about = (
        f"<p>{esc(model.description) or '<span class=note>No description.</span>'}</p>"
        f"<p>Aliases: {_badges([f'{a} → v{v}' for a, v in sorted(model.aliases.items())]) or '-'}"
        f" · created {esc(fmt(model.created_at))}</p>"
    )
    return (
        section("About", about + table(["tag", "value"], tags, empty="No tag."))
        + section("Versions", version_table)
        + '<div class="grid">'
        + section(
            "Alias history",
            table(
                ["at", "alias", "change", "by"],
                events,
                empty="No alias was ever set.",
                test_id="alias-history",
            ),
        )
        + section(
            "Endpoints",
            table(["endpoint", "serves"], served, empty="No endpoint serves this model."),
        )
        + "</div>"
    )


@router.get("/models/{name}", response_class=HTMLResponse)
async def model_page(request: Request, name: str) -> HTMLResponse:
    """One model: its versions (aliases, metrics, runs) and the history of its aliases."""
    crumbs = [link("/ui/models", "Models")]
    try:
        body = await asyncio.to_thread(_model_body, store_of(request), name)
    except NotFoundError as exc:
        return _problem("Model not found", str(exc), 404, crumbs=crumbs)
    return page(f"Model {name}", body, active="Models", crumbs=crumbs)


# -- one version --------------------------------------------------------------------------


def lineage_option(lineage: Lineage, endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The lineage as an ECharts graph: datasets -> run -> version -> endpoints serving it."""
    found = lineage.version
    columns: list[list[dict[str, Any]]] = [[], [], [], []]
    for item in lineage.inputs:
        rows = f", {item.dataset.num_rows:,} rows" if item.dataset is not None else ""
        columns[0].append(
            {
                "id": f"dataset:{item.digest}:{item.context}",
                "name": f"{item.name} ({item.context}{rows})",
                "category": "dataset",
            }
        )
    if lineage.run is not None:
        run = lineage.run
        columns[1].append({"id": f"run:{run.run_id}", "name": f"run {run.name}", "category": "run"})
    version_id = f"version:{found.name}/{found.version}"
    columns[2].append(
        {"id": version_id, "name": f"{found.name} v{found.version}", "category": "version"}
    )
    for e in endpoints:
        roles = endpoint_roles(e, found)
        if roles:
            columns[3].append(
                {
                    "id": f"endpoint:{e.name}",
                    "name": f"{e.name} ({', '.join(roles)})",
                    "category": "endpoint",
                }
            )
    nodes = []
    for x, column in enumerate(columns):
        for y, node in enumerate(column):
            nodes.append({**node, "x": x * 240, "y": (y - (len(column) - 1) / 2) * 90})
    upstream = columns[1][0]["id"] if columns[1] else version_id
    links = [(n["id"], upstream) for n in columns[0]]
    if columns[1]:
        links.append((upstream, version_id))
    links += [(version_id, n["id"]) for n in columns[3]]
    return graph_chart(nodes, links, categories=_LINEAGE_KINDS)


def _schema_table(schema: Mapping[str, Any] | None, test_id: str) -> str:
    columns = (schema or {}).get("columns") or []
    rows = [
        [esc(c.get("name")), esc(c.get("type")), esc(fmt(c.get("nullable")))]
        for c in columns
        if isinstance(c, Mapping)
    ]
    return table(["column", "type", "nullable"], rows, empty="Not recorded.", test_id=test_id)


def _version_body(store: Any, name: str, which: str) -> tuple[ModelVersion, str]:
    found = get_model_version(name, which, store=store)
    lineage = model_lineage(name, found.version, store=store)
    endpoints = [e for e in list_endpoints(store=store) if e.model_name == name]
    signature = found.signature or {}
    facts = [
        ["aliases", _badges(found.aliases, "ok") or "-"],
        ["flavor", esc(found.flavor)],
        ["run", link(run_url(found.run_id), found.run_id) if found.run_id else "-"],
        ["created", f"{esc(fmt(found.created_at))} by {esc(found.created_by or '-')}"],
        ["code revision", f"<code>{esc(lineage.code_revision or '-')}</code>"],
        ["uri", f"<code>{esc(found.uri)}</code>"],
        ["description", esc(found.description or "-")],
        ["requirements", esc(", ".join(found.requirements) or "-")],
    ]
    data = [
        [
            esc(i.name),
            esc(i.context),
            esc(i.via),
            esc(fmt(i.dataset.num_rows)) if i.dataset else "-",
            esc(fmt(i.dataset.num_columns)) if i.dataset else "-",
            f"<code>{esc(i.digest[:12])}</code>",
        ]
        for i in lineage.inputs
    ]
    serving = [
        [link(f"/ui/endpoints/{quote(e.name, safe='')}", e.name), esc(", ".join(roles))]
        for e in endpoints
        if (roles := endpoint_roles(e, found))
    ]
    metrics = [[esc(k), esc(fmt(v))] for k, v in sorted(found.metrics.items())]
    tags = [[esc(k), esc(v)] for k, v in sorted(found.tags.items())]
    body = (
        section("Version", table(["", ""], facts))
        + section(
            "Lineage",
            chart(lineage_option(lineage, endpoints), height=360, test_id="lineage-graph")
            + table(
                ["dataset", "context", "linked via", "rows", "columns", "digest"],
                data,
                empty="No dataset is linked to this version.",
                test_id="lineage-datasets",
            )
            + table(["endpoint", "role"], serving, empty="No endpoint serves this version."),
        )
        + '<div class="grid">'
        + section("Signature inputs", _schema_table(signature.get("inputs"), "signature-inputs"))
        + section("Signature outputs", _schema_table(signature.get("outputs"), "signature-outputs"))
        + "</div>"
        + '<div class="grid">'
        + section(
            "Metrics",
            table(["metric", "value"], metrics, empty="No metric.", test_id="version-metrics"),
        )
        + section("Tags", table(["tag", "value"], tags, empty="No tag.", test_id="version-tags"))
        + "</div>"
    )
    return found, body


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
async def version_page(request: Request, name: str, version: str) -> HTMLResponse:
    """One version (by number, alias or ``latest``): signature, metrics, tags, lineage."""
    crumbs = [link("/ui/models", "Models"), link(model_url(name), name)]
    try:
        found, body = await asyncio.to_thread(_version_body, store_of(request), name, version)
    except NotFoundError as exc:
        return _problem("Model version not found", str(exc), 404, crumbs=crumbs)
    except InvalidInputError as exc:
        return _problem("Model version not found", str(exc), 400, crumbs=crumbs)
    return page(f"{found.name} v{found.version}", body, active="Models", crumbs=crumbs)
