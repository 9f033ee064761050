"""Lineage: what data and code made a version, and which versions a dataset made.

Example:
    >>> import shipyard
    >>> lineage = shipyard.model_lineage("delays", 3)  # doctest: +SKIP
    >>> [d.name for d in lineage.datasets]  # doctest: +SKIP
    ['delays-training']
    >>> shipyard.versions_trained_on(lineage.datasets[0])  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.core.entities import Dataset, ModelVersion, Run, RunInput
from shipyard.core.errors import NotFoundError
from shipyard.services._context import get_default_store
from shipyard.stores import Store

__all__ = ["Lineage", "LineageInput", "model_lineage", "versions_trained_on"]

_FULL_DIGEST = re.compile(r"[0-9a-f]{64}")
_DIGEST_PREFIX = re.compile(r"[0-9a-f]{6,63}")


@dataclass(frozen=True, slots=True)
class LineageInput:
    """A dataset a version depends on: how it was linked, and its snapshot when stored.

    ``via`` is ``"version"`` for data given to ``log_model``/``register_model`` and
    ``"run"`` for data the run logged with ``log_input``. ``dataset`` is None when only
    the digest was recorded (no snapshot was stored).
    """

    digest: str
    name: str
    context: str
    via: str
    dataset: Dataset | None


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from: its run, code revision, datasets and packages."""

    version: ModelVersion
    run: Run | None
    code_revision: str | None
    inputs: tuple[LineageInput, ...]

    @property
    def datasets(self) -> list[Dataset]:
        """The stored snapshots among the inputs."""
        return [i.dataset for i in self.inputs if i.dataset is not None]


def _store(store: Store | None) -> Store:
    return store if store is not None else get_default_store()


def model_lineage(name: str, version: int, *, store: Store | None = None) -> Lineage:
    """What data and code made a version.

    Raises:
        NotFoundError: no such model or version.
    """
    store = _store(store)
    found = store.registry.get_version(name, version)
    run = None
    linked: list[tuple[RunInput, str]] = [(i, "version") for i in found.inputs]
    if found.run_id is not None:
        try:
            run = store.metadata.get_run(found.run_id)
        except NotFoundError:  # the run was deleted; the version keeps its own links
            run = None
        else:
            seen = {(i.digest, i.context) for i in found.inputs}
            linked += [
                (i, "run")
                for i in store.metadata.list_inputs(found.run_id)
                if (i.digest, i.context) not in seen
            ]
    inputs = []
    for item, via in linked:
        snapshots = [
            d for d in store.registry.find_datasets(item.digest) if d.digest == item.digest
        ]
        named = [d for d in snapshots if d.name == item.name] or snapshots
        snapshot = named[0] if named else None
        inputs.append(LineageInput(item.digest, item.name, item.context, via, snapshot))
    revision = found.code_revision or (run.code_revision if run is not None else None)
    return Lineage(found, run, revision, tuple(inputs))


def versions_trained_on(
    dataset: Dataset | str, *, context: str | None = "training", store: Store | None = None
) -> list[ModelVersion]:
    """The versions whose training data (or ``context`` data) was this dataset.

    Args:
        dataset: a dataset, its name (then its newest snapshot), or its digest (a
            unique prefix of 6 or more characters is enough).
        context: the role the data played; None for any.
        store: where to look.
    """
    store = _store(store)
    if isinstance(dataset, Dataset):
        digest = dataset.digest
    elif _FULL_DIGEST.fullmatch(dataset):
        digest = dataset
    elif store.registry.list_datasets(dataset):  # a name wins over a digest prefix
        digest = store.registry.get_dataset(dataset).digest
    elif _DIGEST_PREFIX.fullmatch(dataset):
        matches = {d.digest for d in store.registry.find_datasets(dataset)}
        if len(matches) != 1:
            many = "matches several datasets" if matches else "matches no dataset"
            raise NotFoundError(f"digest prefix {dataset!r} {many}")
        digest = matches.pop()
    else:
        raise NotFoundError(
            f"no dataset is named {dataset!r}; `shipyard datasets list` shows logged ones"
        )
    return store.registry.versions_using(digest, context)
