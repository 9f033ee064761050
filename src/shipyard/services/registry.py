"""The model registry: register versions, name them with aliases, load them anywhere.

Example:
    >>> import shipyard
    >>> with shipyard.start_run("flights") as run:  # doctest: +SKIP
    ...     version = run.log_model(pipeline, "delays", training_data=X, target=y)
    >>> shipyard.set_alias("delays", "champion", version.version)  # doctest: +SKIP
    >>> model = shipyard.load_model("models:/delays@champion")  # doctest: +SKIP
    >>> model.predict_proba(X.head())  # doctest: +SKIP
"""

from __future__ import annotations

import numbers
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import AliasEvent, ModelVersion, RegisteredModel
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.core.ids import new_id
from shipyard.services._common import check_name, clean_texts, current_user
from shipyard.services._context import get_default_store
from shipyard.services._loaded import LoadedModel
from shipyard.services._model_files import (
    MANIFEST,
    ModelFiles,
    fetch_model_files,
    upload_model_files,
    verify_folder,
)
from shipyard.services._packaging import package_model
from shipyard.services.tracking import run_artifact_prefix
from shipyard.stores import NewVersion, Store, validate_artifact_path

if TYPE_CHECKING:
    from shipyard.services.tracking import ActiveRun

__all__ = [
    "alias_history",
    "delete_alias",
    "get_model",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "load_model",
    "register_model",
    "resolve_model_uri",
    "set_alias",
    "set_model_tags",
    "set_model_version_tags",
    "update_model",
    "update_model_version",
]

_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_RESERVED_ALIASES = {"latest"}
_MAX_VERSION = 2**31 - 1
_MAX_PREFIX = 900  # leaves room for file names under the 1,024 of the artifact index
_URI_HELP = (
    "use models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest, "
    "runs:/RUN_ID/PATH or a model folder"
)


def _store(store: Store | None) -> Store:
    return store if store is not None else get_default_store()


def check_alias(alias: object) -> str:
    """An alias: a letter, then letters, digits, '_' or '-', at most 64; not 'latest'."""
    if not isinstance(alias, str) or _ALIAS.fullmatch(alias) is None:
        raise InvalidInputError(
            "an alias starts with a letter and holds only letters, digits, '_' and '-' "
            f"(at most 64 characters), so it cannot be mistaken for a version; got {alias!r}"
        )
    if alias in _RESERVED_ALIASES:
        raise InvalidInputError(f"alias {alias!r} is reserved: models:/NAME/latest means it")
    return alias


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def check_version(version: object) -> int:
    """A version number: a positive integer (or its decimal text) within 32 bits."""
    number = None
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and _is_number(version):
        number = int(version)
    if number is None or not 1 <= number <= _MAX_VERSION:
        raise InvalidInputError(
            f"a version number is a whole number from 1 to {_MAX_VERSION}; got {version!r}"
        )
    return number


def _clean_metrics(metrics: Mapping[str, object]) -> dict[str, float]:
    clean = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"metric names must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(f"metric {key!r} must be a real number, got {value!r}")
        clean[key] = float(value)
    return clean


def register_model(
    model: object,
    name: str,
    *,
    training_data: Any = None,
    target: Any = None,
    flavor: str | None = None,
    run: ActiveRun | None = None,
    artifact_path: str = "model",
    metrics: Mapping[str, float] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    log_training_data: bool = True,
    flavor_options: Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> ModelVersion:
    """Register a new version of model ``name``.

    The model is saved with its flavor, then loaded back to compute its outputs on the
    training data, from which come the signature (inputs and outputs), a few example
    rows and the reference profiles monitoring compares live traffic with.

    Args:
        model: the trained model (scikit-learn, LightGBM, XGBoost, PyTorch, ONNX, or any
            object with ``predict``).
        name: the registered model's name (created on first use).
        training_data: the features the model was trained on (DataFrame, Arrow table or
            array). Without it there is no signature, example or reference profile.
        target: the labels, kept in the training snapshot beside the features.
        flavor: force a flavor instead of detecting it from the model's type.
        run: the run the model came from (``run.log_model`` passes itself): its metrics,
            code revision and inputs become the version's lineage, and the files are
            stored with the run, so ``runs:/RUN_ID/model`` loads them too.
        artifact_path: where in the run's artifacts the files go.
        metrics: metrics to record with the version (the run's latest values are
            included already).
        description: free text shown with the version.
        tags: tags for the version.
        log_training_data: store the training data (and target) as a dataset snapshot
            linked to the version, so "what data made it" has an answer.
        flavor_options: passed to the flavor's save (e.g. ``{"format": "state_dict"}``).
        store: where to register (default: the run's store, else the store from settings).

    Returns:
        The new version.
    """
    check_name("model", name)
    if run is not None and store is not None and store is not run.store:
        raise InvalidInputError("register_model(run=...) registers in the run's store; omit store=")
    store = run.store if run is not None else _store(store)
    if run is not None:
        run._check_open()
        _check_prefix_length(run_artifact_prefix(run.run_id, artifact_path))
    extra_metrics = _clean_metrics(metrics or {})
    clean_tags = clean_texts("tag", tags or {}, store.settings)
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
        folder = Path(tmp)
        packaged = package_model(
            model, name, folder, training_data, flavor=flavor, options=flavor_options or {}
        )
        inputs = []
        if training_data is not None and log_training_data:
            dataset = packaged.training_dataset(target, name, store)
            if dataset is not None:
                inputs.append(dataset)
        if run is not None:
            prefix, manifest_sha = _store_in_run(run, folder, artifact_path)
            for item in inputs:
                run.log_input(item.digest, item.name, item.context)
            state = run.to_run()
            run_metrics = dict(state.metrics)
            revision = state.code_revision
        else:
            prefix = f"models/{name}/{new_id()}"
            stored = upload_model_files(store, folder, prefix)
            manifest_sha = stored[MANIFEST].sha256
            run_metrics, revision = {}, _git_revision()
    new = NewVersion(
        flavor=packaged.flavor,
        artifact_prefix=prefix,
        manifest_sha256=manifest_sha,
        run_id=None if run is None else run.run_id,
        signature=packaged.signature,
        metrics={**run_metrics, **extra_metrics},
        requirements=packaged.requirements,
        code_revision=revision,
        description=description,
        created_by=current_user(),
        tags=clean_tags,
        inputs=inputs,
    )
    try:
        return store.registry.create_version(name, new)
    except BaseException:
        if run is None:  # files nobody will point at; a run's files stay with the run
            for key in stored:
                store.artifacts.delete(f"{prefix}/{key}")
        raise


def _check_prefix_length(prefix: str) -> None:
    if len(prefix) > _MAX_PREFIX:
        raise InvalidInputError(
            f"artifact_path is too long: the model's folder would be {len(prefix)} "
            f"characters, and the limit is {_MAX_PREFIX}"
        )


def _store_in_run(run: ActiveRun, folder: Path, artifact_path: str) -> tuple[str, str]:
    """Store the files as run artifacts (indexed, so runs:/ URIs find them)."""
    clean = validate_artifact_path(artifact_path)
    taken = [
        a.path
        for a in run.store.metadata.list_artifacts(run.run_id)
        if a.path == clean or a.path.startswith(f"{clean}/")
    ]
    if taken:
        raise ConflictError(
            f"run {run.run_id} already has artifacts under {clean!r} ({taken[0]!r}...); "
            "give log_model another artifact_path"
        )
    stored = {a.path: a for a in run.log_artifacts(folder, clean)}
    return run_artifact_prefix(run.run_id, clean), stored[f"{clean}/{MANIFEST}"].sha256


def _git_revision() -> str | None:
    from shipyard.services._environment import capture_environment

    return capture_environment().get("shipyard.git.commit")


# -- reading the registry ---------------------------------------------------------------


def list_models(*, store: Store | None = None) -> list[RegisteredModel]:
    """Every registered model, by name."""
    return _store(store).registry.list_models()


def get_model(name: str, *, store: Store | None = None) -> RegisteredModel:
    """A registered model with its tags, aliases and latest version number."""
    return _store(store).registry.get_model(name)


def list_model_versions(name: str, *, store: Store | None = None) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    return _store(store).registry.list_versions(name)


def get_model_version(name: str, version: int | str, *, store: Store | None = None) -> ModelVersion:
    """A version by number, by alias, or ``"latest"``.

    Raises:
        NotFoundError: no such model, version or alias.
    """
    registry = _store(store).registry
    if isinstance(version, int) or (isinstance(version, str) and _is_number(version)):
        return registry.get_version(name, check_version(version))
    if version == "latest":
        return registry.latest_version(name)
    if isinstance(version, str):
        return registry.get_version(name, registry.get_alias(name, check_alias(version)))
    raise InvalidInputError(f"a version is a number, an alias or 'latest'; got {version!r}")


def set_alias(name: str, alias: str, version: int, *, store: Store | None = None) -> AliasEvent:
    """Point an alias at a version (moving it if needed); who and when are recorded."""
    registry = _store(store).registry
    return registry.set_alias(name, check_alias(alias), check_version(version), current_user())


def delete_alias(name: str, alias: str, *, store: Store | None = None) -> AliasEvent:
    """Remove an alias; recorded like a move."""
    return _store(store).registry.delete_alias(name, alias, current_user())


def alias_history(
    name: str, alias: str | None = None, *, store: Store | None = None
) -> list[AliasEvent]:
    """Every change to a model's aliases (or one alias), oldest first."""
    return _store(store).registry.alias_history(name, alias)


def set_model_tags(name: str, tags: Mapping[str, str], *, store: Store | None = None) -> None:
    """Set tags on a registered model."""
    store = _store(store)
    store.registry.set_model_tags(name, clean_texts("tag", tags, store.settings))


def set_model_version_tags(
    name: str, version: int, tags: Mapping[str, str], *, store: Store | None = None
) -> None:
    """Set tags on one version."""
    store = _store(store)
    clean = clean_texts("tag", tags, store.settings)
    store.registry.set_version_tags(name, check_version(version), clean)


def update_model(name: str, *, description: str, store: Store | None = None) -> RegisteredModel:
    """Change a registered model's description."""
    return _store(store).registry.update_model(name, description=description)


def update_model_version(
    name: str, version: int, *, description: str, store: Store | None = None
) -> ModelVersion:
    """Change a version's description."""
    registry = _store(store).registry
    return registry.update_version(name, check_version(version), description=description)


# -- loading ----------------------------------------------------------------------------


def resolve_model_uri(
    uri: str, *, store: Store | None = None
) -> tuple[ModelVersion | None, ModelFiles]:
    """Find a model's files from a URI and verify them; see :func:`load_model`."""
    if not isinstance(uri, str) or not uri:
        raise InvalidInputError(f"a model URI is a non-empty string; {_URI_HELP}")
    if uri.startswith("models:/"):
        store = _store(store)
        found = _version_from_uri(uri[len("models:/") :], store)
        files = fetch_model_files(store, found.artifact_prefix, found.manifest_sha256)
        return found, files
    if uri.startswith("runs:/"):
        store = _store(store)
        run_id, _, path = uri[len("runs:/") :].partition("/")
        path = path.strip("/") or "model"
        try:
            info = store.metadata.get_artifact(run_id, f"{path}/{MANIFEST}")
        except NotFoundError as exc:
            raise NotFoundError(f"run {run_id!r} has no model at {path!r} ({uri})") from exc
        prefix = run_artifact_prefix(run_id, path)
        files = fetch_model_files(store, prefix, info.sha256)
        versions = [
            v for v in store.registry.versions_of_run(run_id) if v.artifact_prefix == prefix
        ]
        return (versions[0] if versions else None), files
    if "://" in uri or uri.startswith(("models:", "runs:")):
        raise InvalidInputError(f"cannot read model URI {uri!r}; {_URI_HELP}")
    return None, verify_folder(Path(uri))


def _version_from_uri(rest: str, store: Store) -> ModelVersion:
    name, at, alias = rest.partition("@")
    if at:
        check_name("model", name)
        return store.registry.get_version(name, store.registry.get_alias(name, check_alias(alias)))
    name, slash, which = rest.partition("/")
    check_name("model", name)
    if not slash or not which:
        raise InvalidInputError(f"model URI models:/{rest} names no version; {_URI_HELP}")
    if which == "latest":
        return store.registry.latest_version(name)
    if not _is_number(which):
        raise InvalidInputError(
            f"{which!r} in models:/{rest} is not a version number; for an alias write "
            f"models:/{name}@{which}"
        )
    return store.registry.get_version(name, check_version(which))


def load_model(uri: str, *, store: Store | None = None) -> LoadedModel:
    """Load a model to predict with, after verifying every file's sha256.

    Args:
        uri: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/latest``,
            ``runs:/RUN_ID/PATH`` (PATH defaults to ``model``), or a local folder.
        store: where to look (default: the store from settings).

    Returns:
        The model, with ``predict``, ``predict_proba`` (classifiers), ``signature``,
        ``name`` and ``version``.

    Raises:
        NotFoundError: nothing answers to the URI.
        CorruptedArtifactError: a file differs from what was recorded when it was saved.

    Warning:
        Pickle-based flavors (scikit-learn, pyfunc) run code when loaded: load models
        only from a store you trust.
    """
    from shipyard.flavors import get_flavor

    store = _store(store)
    version, files = resolve_model_uri(uri, store=store)
    flavor = get_flavor(files.manifest["flavor"])
    predictor = flavor.load(files.path, files.manifest.get("flavor_config", {}))
    extra = store.settings.extra_columns
    return LoadedModel(predictor, files.manifest, files.path, uri, version, extra)
