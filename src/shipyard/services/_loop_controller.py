"""The loop's controller: one pass of the loop for one endpoint at one moment.

It keeps nothing between passes: the phase, cycle, challenger and cool-down are read
from the store and every change of phase is a compare-and-set on the state, so a
controller that restarts carries on where the last one was.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import Decision, LoopState
from shipyard.core.errors import ConfigError, ConflictError, NotFoundError, ShipyardError
from shipyard.core.policy import LoopPolicy, TrainingSpec, higher_is_better, parse_duration
from shipyard.services import endpoints, registry, tracking
from shipyard.services._common import json_ready, to_moment
from shipyard.services._gate import check_rollout, judge_canary, judge_gate
from shipyard.services._loop_data import LabelledFrame, labelled_traffic, model_table, scores
from shipyard.services._windows import parse_every
from shipyard.services.prediction_log import prediction_log
from shipyard.stores import NewDecision, Store

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.core.entities import MonitorWindow
    from shipyard.services._loaded import LoadedModel

__all__ = ["CHALLENGER_ALIAS", "Controller", "new_owner", "now_of", "policy_for"]

CHALLENGER_ALIAS = "challenger"


def now_of(value: datetime | str | None) -> datetime:
    moment = to_moment("now", value)
    return moment if moment is not None else datetime.now(UTC)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def policy_for(store: Store, endpoint: str, policy: LoopPolicy | None) -> LoopPolicy:
    if policy is not None:
        return policy
    found = store.settings.loop.get(endpoint)
    if found is None:
        raise ConfigError(
            f"endpoint {endpoint!r} has no loop policy: add a [loop.{endpoint}] table to "
            "shipyard.toml (every field has a default; see docs/loop.md)"
        )
    return found


class Controller:
    """One pass of the loop for one endpoint, at one moment of the loop's clock."""

    def __init__(
        self,
        store: Store,
        endpoint: str,
        policy: LoopPolicy,
        training: TrainingSpec | None,
        now: datetime,
        *,
        owner: str,
        actor: str,
    ) -> None:
        self.store = store
        self.endpoint = endpoint
        self.policy = policy
        self.now = now
        self.owner = owner
        self.actor = actor
        self.model = policy.model or endpoints.get_endpoint(endpoint, store=store).model_name
        self.training = training if training is not None else store.settings.models.get(self.model)
        self.decisions: list[Decision] = []
        check_rollout(policy.rollout)

    # -- records ----------------------------------------------------------------------

    def decide(
        self,
        kind: str,
        outcome: str,
        summary: str,
        details: Mapping[str, Any] | None = None,
        *,
        cycle: int | None,
        run_id: str | None = None,
        version: int | None = None,
        actor: str | None = None,
    ) -> Decision:
        decision = self.store.loop.add_decision(
            NewDecision(
                endpoint=self.endpoint,
                model=self.model,
                kind=kind,
                outcome=outcome,
                summary=summary,
                details=json_ready(dict(details or {})),
                at=self.now,
                actor=actor or self.actor,
                cycle=cycle,
                run_id=run_id,
                version=version,
            )
        )
        self.decisions.append(decision)
        return decision

    def move(self, state: LoopState, **values: Any) -> LoopState:
        return self.store.loop.transition(self.endpoint, state.generation, **values)

    def finish(self, state: LoopState) -> LoopState:
        """Back to idle after a cycle, quiet for the cool-down."""
        return self.move(
            state,
            phase="idle",
            challenger=None,
            owner=None,
            lease_until=None,
            phase_since=self.now,
            cooldown_until=self.now + parse_duration(self.policy.cooldown),
        )

    # -- the phases -------------------------------------------------------------------

    def run(self, forced: str | None) -> list[Decision]:
        state = self.store.loop.get_state(self.endpoint)
        if state.phase == "canary":
            # Judged first: a failing canary is rolled back even if monitoring fails.
            self._watch(state)
            state = self.store.loop.get_state(self.endpoint)
        window: MonitorWindow | None = None
        if state.phase != "retraining":
            # Monitoring goes on whatever the phase (cool-down and canary included), so
            # every window is computed once; only an idle endpoint acts on it. A retrain's
            # owner is left alone: moving the state under it would void its next step.
            try:
                window, state = self._monitor(state)
            except ShipyardError as exc:
                self._error("monitoring failed", exc)
                state = self.store.loop.get_state(self.endpoint)
        if state.phase == "idle":
            self._idle(state, forced, window)
        elif state.phase == "retraining":
            self._resume_retrain(state)
        elif forced is not None:
            raise ConflictError(
                f"endpoint {self.endpoint!r} is {state.phase} in cycle {state.cycle}: approve "
                f"or veto it first (`shipyard loop status {self.endpoint}`)"
            )
        return self.decisions

    def _error(self, what: str, exc: BaseException, *, cycle: int | None = None) -> None:
        """Record a failure once: the same failure on the next ticks is not repeated."""
        summary = f"{what}: {type(exc).__name__}: {exc}"
        last = self.store.loop.list_decisions(self.endpoint, limit=1)
        if last and last[0].kind == "error" and last[0].summary == summary:
            return
        self.decide(
            "error",
            "failed",
            summary,
            {"error": type(exc).__name__, "message": str(exc)},
            cycle=cycle,
        )

    def _idle(self, state: LoopState, forced: str | None, window: MonitorWindow | None) -> None:
        details: dict[str, Any] = {}
        if forced is not None:
            reasons = [
                f"requested by {self.actor}: {forced}" if forced else f"requested by {self.actor}"
            ]
        else:
            if state.cooldown_until is not None and self.now < state.cooldown_until:
                return
            reasons = []
            if window is not None:
                details["window"] = {
                    "start": window.start,
                    "end": window.end,
                    "rows": window.rows,
                }
                reasons = self._window_reasons(window, details)
            reasons += self._schedule_reasons(details)
            if not reasons:
                return
        busy = self._other_retrain()
        if busy is not None:
            if forced is not None:
                raise ConflictError(
                    f"model {self.model!r} is already retraining for endpoint {busy!r}; "
                    "one retrain of a model runs at a time"
                )
            self.decide(
                "trigger",
                "deferred",
                f"{'; '.join(reasons)}; not retraining now: model {self.model!r} is retraining "
                f"for endpoint {busy!r}, and one retrain of a model runs at a time",
                details,
                cycle=None,
            )
            return
        # Claim the cycle before anything else, so a second controller backs off.
        state = self.move(
            state,
            phase="retraining",
            model=self.model,
            cycle=None,
            owner=self.owner,
            lease_until=datetime.now(UTC) + parse_duration(self.policy.lease),
            phase_since=self.now,
            challenger=None,
        )
        fired = self.decide(
            "trigger",
            "requested" if forced is not None else "fired",
            "; ".join(reasons),
            details,
            cycle=None,
            actor=self.actor if forced is not None else "loop",
        )
        state = self.move(state, cycle=fired.id)
        self._retrain(state)

    def _other_retrain(self) -> str | None:
        """Another endpoint retraining the same model right now, if any."""
        wall = datetime.now(UTC)
        for other in self.store.loop.list_states():
            if (
                other.endpoint != self.endpoint
                and other.model == self.model
                and other.phase == "retraining"
                and other.lease_until is not None
                and other.lease_until > wall
            ):
                return other.endpoint
        return None

    def _monitor(self, state: LoopState) -> tuple[MonitorWindow | None, LoopState]:
        """Monitor the windows completed since the last look; the latest, if any."""
        from shipyard.services.monitoring import monitor

        every = parse_every(self.policy.every)
        until = every.floor(self.now - parse_duration(self.policy.trigger.label_delay))
        since = state.checked_until
        if since is None:
            since = every.floor(until - timedelta(seconds=1))
        if until <= since:
            return None, state
        result = monitor(self.endpoint, since, until, every=self.policy.every, store=self.store)
        state = self.move(state, checked_until=until)
        return (result.windows[-1] if result.windows else None), state

    def _window_reasons(self, window: MonitorWindow, details: dict[str, Any]) -> list[str]:
        rules = self.policy.trigger
        reasons: list[str] = []
        drift = window.results.get("drift") or {}
        share = drift.get("share")
        details["drift_share"] = share
        if rules.drift_share is not None and share is not None and share >= rules.drift_share:
            drifted = [n for n, c in (drift.get("columns") or {}).items() if c.get("drifted")]
            reasons.append(
                f"drift: {len(drifted)} of {len(drift.get('columns') or {})} columns drifted "
                f"(share {share:.2f} >= {rules.drift_share:g}) in the window from "
                f"{window.start:%Y-%m-%d}: {', '.join(sorted(drifted)[:6])}"
            )
        performance = window.results.get("performance") or {}
        value = (performance.get("metrics") or {}).get(rules.metric)
        reference = (performance.get("reference") or {}).get(rules.metric)
        labelled = performance.get("labelled") or 0
        details.update(
            {"metric": rules.metric, "value": value, "reference": reference, "labelled": labelled}
        )
        if (
            rules.drop is not None
            and value is not None
            and reference is not None
            and labelled >= rules.min_labels
        ):
            loss = reference - value if higher_is_better(rules.metric) else value - reference
            if loss >= rules.drop:
                reasons.append(
                    f"performance: {rules.metric} {value:.4f} on {labelled:,} labelled rows is "
                    f"{loss:.4f} worse than the champion's {reference:.4f} (drop >= {rules.drop:g})"
                )
        return reasons

    def _schedule_reasons(self, details: dict[str, Any]) -> list[str]:
        schedule = self.policy.trigger.schedule
        if schedule is None:
            return []
        promoted = self.store.loop.list_decisions(self.endpoint, kinds=["promotion"], limit=1)
        if promoted:
            since = promoted[0].at
        else:
            since = endpoints.get_endpoint(self.endpoint, store=self.store).created_at
        details["champion_since"] = since
        if self.now - since >= parse_duration(schedule):
            return [f"schedule: the champion has served since {since:%Y-%m-%d}, over {schedule}"]
        return []

    def _resume_retrain(self, state: LoopState) -> None:
        wall = datetime.now(UTC)
        if state.owner != self.owner and state.lease_until is not None and state.lease_until > wall:
            return  # another controller is retraining; its lease is alive
        previous_owner = state.owner
        state = self.move(
            state,
            owner=self.owner,
            lease_until=wall + parse_duration(self.policy.lease),
        )
        self.decide(
            "retrain",
            "restarted",
            f"the retrain of cycle {state.cycle} did not finish (its controller stopped "
            f"holding the lease); starting it again",
            {"previous_owner": previous_owner},
            cycle=state.cycle,
        )
        self._retrain(state)

    # -- retrain and gate -------------------------------------------------------------

    def _retrain(self, state: LoopState) -> None:
        """Retrain and gate, then wait for approval or start the canary.

        ``state`` is the one this controller claimed; every later move compares against
        it, so if another controller took the cycle over meanwhile (this one outlived
        its lease) this one stops with a ``retrain abandoned`` decision instead of acting.
        """
        cycle = state.cycle
        try:
            outcome = self._train_and_gate(state)
        except ConflictError as exc:
            self.decide(
                "retrain",
                "abandoned",
                f"another controller took this cycle over while it trained ({exc}); this one stops",
                cycle=cycle,
            )
            return
        except Exception as exc:  # a failed retrain ends the cycle, never the controller
            self.decide(
                "retrain",
                "failed",
                f"the retrain failed: {type(exc).__name__}: {exc}",
                {"error": type(exc).__name__, "message": str(exc)},
                cycle=cycle,
            )
            self.finish(state)
            return
        if outcome is None:  # skipped: not enough data
            self.finish(state)
            return
        version, passed = outcome
        if not passed:
            self.finish(state)
        elif self.policy.gate.approval:
            state = self.move(
                state,
                phase="awaiting_approval",
                challenger=version,
                owner=None,
                lease_until=None,
                phase_since=self.now,
            )
            self.decide(
                "approval",
                "waiting",
                f"v{version} passed the gate; a human must approve its canary: "
                "`shipyard loop approve` or `shipyard loop veto` with this decision's id",
                cycle=cycle,
                version=version,
            )
        else:
            self.start_canary(state, version)

    @staticmethod
    def _columns(champion: LoadedModel) -> list[str] | None:
        """The champion's input columns, in its signature's order (None: no table signature)."""
        if champion.signature is None or champion.signature.inputs.is_tensor:
            return None
        return [c.name for c in champion.signature.inputs.columns]

    def _training_data(
        self,
        training: TrainingSpec,
        champion: LoadedModel,
        recent: LabelledFrame,
        columns: list[str] | None,
    ) -> pd.DataFrame:
        """Recent labelled traffic (after the original data when asked), typed as served."""
        import pandas as pd

        target = training.target
        parts = [recent.features(columns).assign(**{target: recent.labels.to_numpy()})]
        if self.policy.retrain.include_original:
            parts.insert(0, self._original(training, columns))
        data = pd.concat(parts, ignore_index=True)
        features: pd.DataFrame = champion.prepare(data.drop(columns=[target]))
        return features.assign(**{target: data[target].to_numpy()})

    def _original(self, training: TrainingSpec, columns: list[str] | None) -> pd.DataFrame:
        from shipyard.services.datasets import load_dataset

        if training.data is None:
            raise ConfigError(
                f"retrain.include_original is on but [models.{self.model}] names no data; "
                "set data = 'DATASET' (a logged dataset's name)"
            )
        frame = load_dataset(training.data, store=self.store)
        keep = [*(columns or [c for c in frame.columns if c != training.target])]
        return frame[[*keep, training.target]]

    def _train_and_gate(self, state: LoopState) -> tuple[int, bool] | None:
        """Train a challenger and gate it; None when there is too little data to."""
        from shipyard.services.pipelines import load_pipeline

        training = self.training
        cycle = state.cycle
        if training is None:
            raise ConfigError(
                f"model {self.model!r} declares no training pipeline: add [models.{self.model}] "
                "with pipeline = 'module:function' and target to shipyard.toml"
            )
        champion_version = endpoints.resolve_traffic(
            self.endpoint, store=self.store
        ).primary_version
        champion = registry.load_model(f"models:/{self.model}/{champion_version}", store=self.store)
        end = self.now - parse_duration(self.policy.trigger.label_delay)
        holdout_start = end - parse_duration(self.policy.gate.holdout)
        train_start = holdout_start - parse_duration(self.policy.retrain.window)
        spans: dict[str, Any] = {
            "train": {"since": train_start, "until": holdout_start},
            "holdout": {"since": holdout_start, "until": end},
            "include_original": self.policy.retrain.include_original,
            "champion": champion_version,
        }
        self.decide(
            "retrain",
            "started",
            f"retraining {self.model} on labelled traffic {train_start:%Y-%m-%d %H:%M} to "
            f"{holdout_start:%Y-%m-%d %H:%M}"
            + (" plus the original training data" if self.policy.retrain.include_original else "")
            + f"; holding out {holdout_start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} for the gate",
            spans,
            cycle=cycle,
        )
        recent = labelled_traffic(
            self.store, self.endpoint, spans["train"]["since"], spans["train"]["until"]
        )
        holdout = labelled_traffic(
            self.store, self.endpoint, spans["holdout"]["since"], spans["holdout"]["until"]
        )
        short = []
        if len(recent) < self.policy.retrain.min_rows:
            short.append(
                f"{len(recent):,} rows of recent labelled traffic (retrain.min_rows "
                f"{self.policy.retrain.min_rows:,})"
            )
        if len(holdout) < self.policy.gate.min_rows:
            short.append(
                f"{len(holdout):,} holdout rows (gate.min_rows {self.policy.gate.min_rows:,})"
            )
        if short:
            self.decide(
                "retrain",
                "skipped",
                "not enough labelled traffic to retrain: " + "; ".join(short),
                {"recent_rows": len(recent), "holdout_rows": len(holdout)},
                cycle=cycle,
            )
            return None
        columns = self._columns(champion)
        data = self._training_data(training, champion, recent, columns)
        target = training.target
        pipeline = load_pipeline(training.pipeline, project_dir=self.store.settings.project_dir)
        params = dict(training.params)
        if "target" in pipeline.params:  # the label column's name, known from [models.NAME]
            params.setdefault("target", training.target)
        with tracking.start_run(
            f"{self.model}-retrain",
            name=f"retrain-{cycle}",
            params={"loop.cycle": cycle, "loop.endpoint": self.endpoint},
            tags={"shipyard.loop.endpoint": self.endpoint, "shipyard.loop.cycle": str(cycle)},
            store=self.store,
        ) as run:
            result = pipeline.run(inputs={"data": data}, params=params, store=self.store, run=run)
            trained = result.outputs[training.output]
            ready = champion.prepare(holdout.features(columns))
            old = scores(model_table(champion, ready, holdout.labels))
            new = scores(model_table(trained, ready, holdout.labels))
            run.log_metrics(new)
            run.log_metrics({f"champion.{k}": v for k, v in old.items()})
            version = run.log_model(
                trained,
                self.model,
                training_data=data.drop(columns=[target]),
                log_training_data=False,
                tags={"shipyard.loop.cycle": str(cycle), "shipyard.loop.endpoint": self.endpoint},
            ).version
            run_id = run.run_id
        self.decide(
            "retrain",
            "finished",
            f"trained v{version} on {len(data):,} rows in run {run_id[:8]}"
            + (f" ({sum(s.cached for s in result.steps)} cached steps)" if result.steps else ""),
            {
                "train_rows": len(data),
                "steps": [
                    {"name": s.name, "cached": s.cached, "seconds": s.seconds} for s in result.steps
                ],
            },
            cycle=cycle,
            run_id=run_id,
            version=version,
        )
        gate = judge_gate(self.policy.gate, old, new, len(holdout))
        champion_version = spans["champion"]
        self.decide(
            "gate",
            "passed" if gate.passed else "refused",
            f"v{version} vs champion v{champion_version} on {len(holdout):,} held-out rows: "
            + "; ".join(gate.reasons),
            {**gate.to_dict(), "champion_version": champion_version, "holdout": spans["holdout"]},
            cycle=cycle,
            run_id=run_id,
            version=version,
        )
        registry.set_model_version_tags(
            self.model,
            version,
            {"shipyard.loop.gate": "passed" if gate.passed else "refused"},
            store=self.store,
        )
        if gate.passed:
            registry.set_alias(self.model, CHALLENGER_ALIAS, version, store=self.store)
        return version, gate.passed

    # -- canary -----------------------------------------------------------------------

    def start_canary(self, state: LoopState, version: int) -> None:
        """Claim the canary phase, then give the challenger its share of traffic."""
        percent = self.policy.rollout.percent
        state = self.move(
            state,
            phase="canary",
            challenger=version,
            owner=None,
            lease_until=None,
            phase_since=self.now,
        )
        try:
            endpoints.set_canary(self.endpoint, version, percent, store=self.store)
        except ShipyardError as exc:
            self._error(f"the canary of v{version} could not start", exc, cycle=state.cycle)
            self.drop_challenger_alias()
            self.finish(state)
            return
        rollout = self.policy.rollout
        self.decide(
            "canary",
            "started",
            f"v{version} takes {percent:g}% of {self.endpoint}'s traffic; judged after "
            f"{rollout.min_predictions:,} answers and {rollout.min_labels:,} labels by a "
            f"{'two-proportion z-test' if rollout.test == 'z' else 'bootstrap interval'} on "
            f"{rollout.metric}",
            rollout.model_dump(),
            cycle=state.cycle,
            version=version,
        )

    def _challenger(self, state: LoopState) -> int:
        if state.challenger is None:
            raise ConflictError(
                f"endpoint {self.endpoint!r} is {state.phase} in cycle {state.cycle} but its "
                "state names no challenger; veto the cycle to reset it"
            )
        return state.challenger

    def _watch(self, state: LoopState) -> None:
        version = self._challenger(state)
        started = state.phase_since or self.now
        endpoint = endpoints.get_endpoint(self.endpoint, store=self.store)
        if endpoint.canary_version != version:
            self.decide(
                "canary",
                "ended",
                f"the canary of v{version} was changed outside the loop (the endpoint's canary "
                f"is now {endpoint.canary_version}); the cycle ends without a verdict",
                cycle=state.cycle,
                version=version,
            )
            self.finish(state)
            return
        log = prediction_log(
            self.endpoint, started, self.now, roles=["primary", "canary"], store=self.store
        )
        expired = self.now - started >= parse_duration(self.policy.rollout.max_duration)
        verdict = judge_canary(
            self.policy.rollout, log, version, expired=expired, seed=state.cycle or 0
        )
        if verdict.outcome == "continue":
            return
        self.decide(
            "verdict",
            verdict.outcome,
            verdict.reason,
            verdict.details,
            cycle=state.cycle,
            version=version,
        )
        if verdict.outcome == "rollback":
            self.roll_back(state, verdict.reason)
        elif self.policy.rollout.approval:
            state = self.move(state, phase="awaiting_promotion", phase_since=self.now)
            self.decide(
                "approval",
                "waiting",
                f"v{version}'s canary passed; a human must approve its promotion: "
                "`shipyard loop approve` or `shipyard loop veto` with this decision's id",
                cycle=state.cycle,
                version=version,
            )
        else:
            self.promote(state)

    def _live_canary(self, state: LoopState, what: str) -> int:
        """The challenger, checked to be the endpoint's canary still."""
        version = self._challenger(state)
        canary = endpoints.get_endpoint(self.endpoint, store=self.store).canary_version
        if canary != version:
            raise ConflictError(
                f"cannot {what} v{version}: endpoint {self.endpoint!r} has "
                + ("no canary" if canary is None else f"v{canary} as its canary")
                + " now (changed outside the loop); see `shipyard endpoints history`"
            )
        return version

    def promote(self, state: LoopState) -> None:
        version = self._live_canary(state, "promote")
        before = endpoints.resolve_traffic(self.endpoint, store=self.store).primary_version
        endpoints.promote(self.endpoint, store=self.store)
        self.drop_challenger_alias()
        self.decide(
            "promotion",
            "promoted",
            f"v{version} is now the primary of {self.endpoint} (was v{before})",
            {"from": before, "to": version},
            cycle=state.cycle,
            version=version,
        )
        self.finish(state)

    def roll_back(self, state: LoopState, reason: str) -> None:
        version = self._challenger(state)
        canary = endpoints.get_endpoint(self.endpoint, store=self.store).canary_version
        if canary == version:
            # stop_canary, not rollback: with no canary left (a racing veto stopped it),
            # rollback would move the champion itself back a version.
            endpoints.stop_canary(self.endpoint, store=self.store)
        self.drop_challenger_alias()
        primary = endpoints.resolve_traffic(self.endpoint, store=self.store).primary_version
        self.decide(
            "rollback",
            "rolled_back",
            f"v{version}'s canary stopped; v{primary} takes all traffic again ({reason})",
            {"version": version, "primary": primary},
            cycle=state.cycle,
            version=version,
        )
        self.finish(state)

    def drop_challenger_alias(self) -> None:
        with contextlib.suppress(NotFoundError):
            registry.delete_alias(self.model, CHALLENGER_ALIAS, store=self.store)
