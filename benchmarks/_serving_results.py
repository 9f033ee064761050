"""Results of ``benchmarks/serving.py``: what a side measured, and the printed report.

The table (rich and Markdown), its footnotes and the checks are built here from the
``Side`` objects the script fills: medians over repeats, ratios against each peer
(throughput shipyard / peer, latency and CPU peer / shipyard), goals from issue 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from _common import fmt_ratio, median, new_console

SHIP, SHIP_OFF, SHIP_INV, MLFLOW, BENTOML = (
    "shipyard",
    "shipyard, log off",
    "shipyard /invocations",
    "MLflow",
    "BentoML",
)
PEERS = (MLFLOW, BENTOML)
GOAL_VS = {MLFLOW: 3.0, BENTOML: 1.5}
GOAL_CEILING_SHARE = 0.5
GOAL_LOG_COST = 0.10
BATCH = 64


@dataclass(frozen=True)
class Config:
    """Sizes and settings of one benchmark invocation."""

    repeat: int
    warmup_s: float
    duration_s: float
    concurrency: tuple[int, ...]
    workers: int
    omp_threads: int
    train_rows: int
    rows: int
    sample: int
    ceiling_s: float
    bentoml_max_latency_ms: float
    log_off: bool
    invocations: bool
    quick: bool


@dataclass
class Side:
    """One server's measurements over every repeat."""

    name: str
    runs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    start_s: list[float] = field(default_factory=list)
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    answered: int = 0
    failures: list[str] = field(default_factory=list)  # a failed start, per repeat

    def metric(self, concurrency: int, key: str) -> float | None:
        """Median over repeats of one generator figure (None when none ran)."""
        values = [r[key] for r in self.runs.get(concurrency, []) if r.get(key) is not None]
        return median(values)

    def cpu_per_request(self, concurrency: int) -> float | None:
        """Median server CPU seconds per answered request."""
        values = [
            r["server_cpu_s"] / r["ok"]
            for r in self.runs.get(concurrency, [])
            if r.get("server_cpu_s") is not None and r["ok"]
        ]
        return median(values)

    def errors(self) -> tuple[int, int]:
        """Failed and all requests in the measured windows, over every run."""
        runs = [r for rs in self.runs.values() for r in rs]
        failed = sum(r["errors"] for r in runs)
        return failed, failed + sum(r["ok"] for r in runs)


# --------------------------------------------------------------------------- the report


def fmt_time(seconds: float | None) -> str:
    """A latency: ``0.84 ms``, ``9.3 ms``, ``48 ms``, ``1.24 s``."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1e3
    return f"{ms:.2f} ms" if ms < 1 else (f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms")


def fmt_rate(value: float | None, unit: str = "req/s") -> str:
    """A throughput with thousands separators."""
    return "-" if value is None else f"{value:,.0f} {unit}"


def _ratio(ours: float | None, theirs: float | None, higher_is_better: bool) -> float | None:
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if higher_is_better else theirs / ours


def _met(ok: bool | None, quick: bool) -> str:
    text = "n/a" if ok is None else ("yes" if ok else "no")
    return text + (" (quick)" if quick and ok is not None else "")


HEADERS = ("workload", "shipyard", "MLflow", "BentoML", "vs MLflow", "vs BentoML", "goal", "met")


def build_rows(cfg: Config, result: dict[str, Any]) -> list[list[str]]:
    """The table's cells: medians over repeats, ratios against each peer, goals."""
    sides: dict[str, Side] = result["sides"]
    ship = sides[SHIP]
    peers = [sides.get(name) for name in PEERS]

    def cell(side: Side | None, value: float | None, fmt: Any) -> str:
        if side is None:
            return "not run"
        return "failed" if side.failures and not side.runs else fmt(value)

    rows: list[list[str]] = []
    top = max(cfg.concurrency)
    for concurrency in cfg.concurrency:
        for label, key, fmt, better_high in (
            ("throughput", "rps", fmt_rate, True),
            ("p50 latency", "p50_s", fmt_time, False),
            ("p99 latency", "p99_s", fmt_time, False),
        ):
            ours = ship.metric(concurrency, key)
            values = [p.metric(concurrency, key) if p else None for p in peers]
            ratios = [_ratio(ours, v, better_high) for v in values]
            goal, met = "-", "-"
            if concurrency == top and key == "rps":
                goal = ", ".join(f">= {GOAL_VS[n]:g}x {n}" for n in PEERS)
                met = ", ".join(
                    f"{n} {_met(None if r is None else r >= GOAL_VS[n], cfg.quick)}"
                    for n, r in zip(PEERS, ratios, strict=True)
                )
            elif concurrency == top and key == "p99_s":
                goal = "below MLflow's"
                met = _met(None if ratios[0] is None else ratios[0] > 1, cfg.quick)
            rows.append(
                [
                    f"concurrency {concurrency}: {label}",
                    cell(ship, ours, fmt),
                    *(cell(p, v, fmt) for p, v in zip(peers, values, strict=True)),
                    *(fmt_ratio(r) for r in ratios),
                    goal,
                    met,
                ]
            )
        cpu = [s.cpu_per_request(concurrency) if s else None for s in (ship, *peers)]
        rows.append(
            [
                f"concurrency {concurrency}: server CPU per request (a)",
                *(cell(s, v, fmt_time) for s, v in zip((ship, *peers), cpu, strict=True)),
                *(fmt_ratio(_ratio(cpu[0], v, False)) for v in cpu[1:]),
                "-",
                "-",
            ]
        )
    counts = [s.errors() if s else None for s in (ship, *peers)]
    ship_failed = counts[0][0] if counts[0] is not None else None
    rows.append(
        [
            "errors: failed / sent, all measured windows",
            *("not run" if c is None else f"{c[0]:,} / {c[1]:,}" for c in counts),
            "-",
            "-",
            "0",
            _met(None if ship_failed is None else ship_failed == 0, False),
        ]
    )
    ceiling = result["ceiling"]
    best = ceiling["batch_rows_per_s"]
    ours_top = ship.metric(top, "rps")
    share = None if ours_top is None else ours_top / best
    rows.append(
        [
            f"ceiling: in-process model.predict, {BATCH}-row batches (b)",
            fmt_rate(best, "rows/s"),
            *["-"] * 4,
            "-",
            "-",
        ]
    )
    rows.append(
        [
            f"shipyard at concurrency {top} as a share of the ceiling",
            "-" if share is None else f"{share:.0%}",
            *["-"] * 4,
            f">= {GOAL_CEILING_SHARE:.0%}",
            _met(None if share is None else share >= GOAL_CEILING_SHARE, cfg.quick),
        ]
    )
    off = sides.get(SHIP_OFF)
    if off is not None:
        for concurrency in cfg.concurrency:
            for label, value, fmt in (
                ("throughput", off.metric(concurrency, "rps"), fmt_rate),
                ("p99 latency", off.metric(concurrency, "p99_s"), fmt_time),
            ):
                rows.append(
                    [
                        f"prediction log off: concurrency {concurrency} {label}",
                        cell(off, value, fmt),
                        *["-"] * 6,
                    ]
                )
        off_rps, off_cpu = off.metric(top, "rps"), off.cpu_per_request(top)
        on_cpu = ship.cpu_per_request(top)
        costs = (
            (
                "throughput lost",
                None if not off_rps or ours_top is None else 1 - ours_top / off_rps,
            ),
            (
                "server CPU per request added (c)",
                None if not off_cpu or on_cpu is None else on_cpu / off_cpu - 1,
            ),
        )
        for label, cost in costs:
            rows.append(
                [
                    f"prediction log cost at concurrency {top}: {label}",
                    "-" if cost is None else f"{cost:.1%}",
                    *["-"] * 4,
                    f"<= {GOAL_LOG_COST:.0%}",
                    _met(None if cost is None else cost <= GOAL_LOG_COST, cfg.quick),
                ]
            )
    inv = sides.get(SHIP_INV)
    if inv is not None:
        for concurrency in cfg.concurrency:
            ours = inv.metric(concurrency, "rps")
            mlflow = peers[0].metric(concurrency, "rps") if peers[0] else None
            rows.append(
                [
                    f"shipyard /invocations (dataframe_split): concurrency {concurrency}",
                    cell(inv, ours, fmt_rate),
                    cell(peers[0], mlflow, fmt_rate),
                    "-",
                    fmt_ratio(_ratio(ours, mlflow, True)),
                    "-",
                    "-",
                    "-",
                ]
            )
    return rows


def footnotes(cfg: Config, result: dict[str, Any]) -> list[str]:
    """What the rows measure, and the setup each side ran with."""
    ceiling = result["ceiling"]
    ship_setup = result["setup"]["shipyard"]
    lines = [
        f"each figure: median of {cfg.repeat} repeat(s), a fresh server per repeat; per "
        f"concurrency {cfg.warmup_s:g} s warm-up, then {cfg.duration_s:g} s measured; "
        f"single-row requests over {cfg.rows} rows cycled; {cfg.workers} worker(s) per "
        f"server; OMP_NUM_THREADS={cfg.omp_threads or 'unset'} for every server",
        "ratios: throughput shipyard / peer, latency and CPU peer / shipyard (above 1x: "
        "shipyard better)",
        f"shipyard endpoint batching: max_batch_size {ship_setup['max_batch_size']}, "
        f"max_latency_ms {ship_setup['max_latency_ms']:g} (the settings' defaults); "
        f"BentoML: batchable=True, max_batch_size {BATCH}, max_latency_ms "
        f"{cfg.bentoml_max_latency_ms:g}; MLflow: no batching (one predict per request)",
        "(a) CPU time of the server's process tree (user + system, /proc) during the "
        "measured window, over the requests answered in it",
        f"(b) {ceiling['batch_rows_per_s']:,.0f} rows/s with OMP threads = "
        f"{ceiling['omp_threads'] or 'default'}; with OpenMP's default threads "
        f"{ceiling['batch_rows_per_s_default_threads']:,.0f} rows/s; one row per call "
        f"{ceiling['single_rows_per_s']:,.0f} rows/s",
    ]
    if SHIP_OFF in result["sides"]:
        lines.append(
            "(c) at a saturated server throughput is the inverse of CPU per request; the CPU "
            "figure is the steadier of the two when other work shares the cores"
        )
    gen = [
        r["generator_cpu_s"] / r["duration_s"]
        for r in result["sides"][SHIP].runs.get(max(cfg.concurrency), [])
        if r.get("generator_cpu_s") is not None
    ]
    if gen:
        loop = result["sides"][SHIP].runs[max(cfg.concurrency)][0].get("loop")
        lines.append(
            f"load generator: one process ({loop}), not pinned; it used {median(gen):.0%} of "
            f"one core at concurrency {max(cfg.concurrency)} against shipyard"
        )
    return lines


def checks(cfg: Config, result: dict[str, Any]) -> tuple[list[str], bool]:
    """Answers against the in-process predictions, and the prediction log's row count."""
    lines, ok = [], True
    sides: dict[str, Side] = result["sides"]
    for side in sides.values():
        if side.failures:
            lines.append(
                f"{side.name}: failed to start in {len(side.failures)} of {cfg.repeat} "
                f"repeat(s): " + side.failures[-1].splitlines()[-1]
            )
            ok = ok and not side.name.startswith("shipyard")
        if not side.runs:
            ok = ok and not side.name.startswith("shipyard")
            continue
        if side.mismatches:
            lines.append(
                f"{side.name}: {len(side.mismatches)} of {side.checked} sampled answers DIFFER "
                f"from model.predict: " + "; ".join(side.mismatches[:3])
            )
            ok = ok and not side.name.startswith("shipyard")
        else:
            lines.append(
                f"{side.name}: {side.checked} sampled answers ({cfg.sample} rows x every run) "
                "match the in-process model.predict of the same rows"
            )
        failed, _ = side.errors()
        if failed and side.name.startswith("shipyard"):
            ok = False
    # Every shipyard server but the log-off one serves the same endpoint with the log on.
    logged = result["log_rows"]
    answered = sum(s.answered for n, s in sides.items() if n in (SHIP, SHIP_INV))
    if logged is not None:
        same = logged == answered
        lines.append(
            f"prediction log after graceful stops: {logged:,} rows for {answered:,} requests "
            f"answered with the log on"
            + ("" if same else " (MISMATCH)")
            + (
                " and none while it was off"
                if SHIP_OFF in sides and sides[SHIP_OFF].runs and same
                else ""
            )
        )
        ok = ok and same
    return lines, ok


def markdown(rows: list[list[str]]) -> str:
    """The table as Markdown, for docs/benchmarks.md."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * 5 + "---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(
    cfg: Config,
    rows: list[list[str]],
    machine: dict[str, Any],
    result: dict[str, Any],
    check_lines: list[str],
) -> None:
    """Machine and versions, the table, the footnotes and the checks, with rich."""
    from rich.table import Table

    console = new_console(width=160)
    console.print(
        f"[bold]Serving benchmark[/bold] {machine['date']}  {machine['cpu_count']} cores, "
        f"{machine['platform']}, load average {machine['load_average_start']} at start, "
        f"{machine['load_average_end']} at end" + ("  [quick sizes]" if cfg.quick else "")
    )
    for name, info in machine["sides"].items():
        if info:
            main_dist = {"shipyard": "shipyard", "MLflow": "mlflow", "BentoML": "bentoml"}[name]
            text = ", ".join(f"{k} {v}" for k, v in info.items() if k != main_dist)
            console.print(f"{name} {info.get(main_dist)} ({text})")
        else:
            console.print(f"{name}: not run ({machine['notes'][name]})")
    table = Table()
    for header in HEADERS:
        table.add_column(
            header, justify="left" if header in ("workload", "goal", "met") else "right"
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in footnotes(cfg, result):
        console.print(line)
    for line in check_lines:
        console.print(line)
    if cfg.quick:
        console.print(
            "[yellow]quick sizes:[/yellow] short windows; this run only shows that it works"
        )
