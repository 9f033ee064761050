"""The two shapes every flavor shares: the Flavor that saves and loads, the Predictor it loads."""

from __future__ import annotations

import abc
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from shipyard.core.errors import ConfigError, CorruptedArtifactError, InvalidInputError
from shipyard.flavors._deps import pins

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FORMAT_VERSION", "Flavor", "Predictor", "from_library", "saved_file"]

#: Version of the config layout save() writes; load() refuses configs from a newer shipyard.
FORMAT_VERSION = 1


class Predictor(Protocol):
    """What ``Flavor.load`` returns: a loaded model that predicts.

    Classifiers also have ``predict_proba(data)`` returning a 2-d array of shape
    ``(n_rows, n_classes)``; check with ``hasattr``. ``classes`` lists the class labels
    in the order of those columns, or is None when unknown or not a classifier.
    """

    classes: list[Any] | None

    def predict(self, data: Any) -> np.ndarray:
        """Predictions for a batch: one per row of ``data``."""
        ...


class Flavor(abc.ABC):
    """How one kind of model is saved to a folder, loaded back, and called.

    Subclasses set ``name``, ``tabular`` and ``modules`` and implement ``detect``,
    ``_save`` and ``_load``; the public ``save`` and ``load`` check their arguments and
    add the keys every config carries (``flavor``, ``format_version``, ``requirements``).
    """

    #: The name the registry stores and ``get_flavor`` takes.
    name: ClassVar[str]
    #: True: ``predict`` takes a pandas DataFrame whose columns and dtypes follow the
    #: signature. False: it takes a numpy array (or a DataFrame of numeric columns).
    tabular: ClassVar[bool]
    #: Import names of what loading needs; ``requirements`` pins their distributions.
    modules: ClassVar[tuple[str, ...]]
    #: The keyword options ``save`` accepts; any other is refused.
    save_options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abc.abstractmethod
    def detect(cls, model: object) -> bool:
        """Whether this flavor saves ``model``; cheap, and never imports heavy libraries."""

    @abc.abstractmethod
    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        """Write the model's files into the empty folder ``path``; return the config."""

    @abc.abstractmethod
    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        """Load the model saved in ``path`` with ``config``."""

    def save(self, model: object, path: Path, **options: Any) -> dict[str, Any]:
        """Save ``model`` into ``path``, an existing empty folder.

        Args:
            model: The model; ``detect(model)`` should be true.
            path: An existing, empty folder the files are written into.
            **options: Flavor-specific options (see the flavor's docstring).

        Returns:
            A JSON-able config to store and pass back to ``load``.

        Raises:
            InvalidInputError: ``path`` is not an empty folder, the model is not of this
                flavor, or an option is wrong. Whatever fails, ``path`` is left empty.
            ConfigError: A library this flavor needs is not installed.
        """
        path = Path(path)
        if not path.is_dir():
            raise InvalidInputError(
                f"Flavor {self.name!r} saves into an existing empty folder; got {str(path)!r}, "
                "which is not a folder. Create it first (path.mkdir())."
            )
        if any(path.iterdir()):
            raise InvalidInputError(
                f"Flavor {self.name!r} saves into an empty folder; {str(path)!r} already has "
                "files in it. Pass a new folder."
            )
        unknown = sorted(set(options) - set(self.save_options))
        if unknown:
            accepted = ", ".join(self.save_options) or "none"
            raise InvalidInputError(
                f"Flavor {self.name!r} does not take the save options {unknown}; "
                f"it takes: {accepted}. Leave the others out."
            )
        if not self.detect(model):
            raise InvalidInputError(
                f"Flavor {self.name!r} cannot save a {_type_name(model)}; "
                "use detect_flavor(model) to pick the flavor that can."
            )
        try:
            config = self._save(model, path, dict(options))
        except BaseException:
            _empty(path)  # it was empty: leave no half-written model behind
            raise
        return {
            "flavor": self.name,
            "format_version": FORMAT_VERSION,
            **config,
            "requirements": config.get("requirements") or pins(self.modules),
        }

    def load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        """Load the model that ``save`` wrote into ``path``.

        Args:
            path: The folder ``save`` wrote into.
            config: The config ``save`` returned.

        Returns:
            A Predictor with ``predict`` (and ``predict_proba`` for classifiers).

        Raises:
            InvalidInputError: ``config`` belongs to another flavor.
            ConfigError: A library this flavor needs is not installed, or the config was
                written by a newer shipyard.
            CorruptedArtifactError: The files in ``path`` are missing or unreadable.
        """
        saved_by = config.get("flavor", self.name)
        if saved_by != self.name:
            raise InvalidInputError(
                f"This config was written by flavor {saved_by!r}, not {self.name!r}; "
                f"load it with get_flavor({saved_by!r})."
            )
        version = config.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigError(
                f"Flavor {self.name!r} reads config format versions up to {FORMAT_VERSION}; "
                f"got {version!r}, written by a newer shipyard. Upgrade shipyard to load it."
            )
        return self._load(Path(path), config)

    def requirements(self, config: Mapping[str, Any]) -> list[str]:
        """Pinned pip requirements for loading the model saved with ``config``.

        Args:
            config: The config ``save`` returned.

        Returns:
            Requirements such as ``["scikit-learn==1.9.1", "numpy==2.4.6"]``: the versions
            recorded when the model was saved, or the installed ones for configs without
            them.
        """
        recorded = config.get("requirements")
        if isinstance(recorded, list) and all(isinstance(item, str) for item in recorded):
            return list(recorded)
        return pins(self.modules)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def from_library(model: object, library: str) -> bool:
    """Whether a class in ``type(model)``'s MRO is defined in ``library`` (no import needed)."""
    prefix = library + "."
    return any(
        klass.__module__ == library or klass.__module__.startswith(prefix)
        for klass in type(model).__mro__
    )


def saved_file(path: Path, config: Mapping[str, Any], default: str, *, flavor: str) -> Path:
    """The model file named in ``config`` (or ``default``) inside ``path``; it must exist."""
    name = str(config.get("file", default))
    file = path / name
    if Path(name).is_absolute() or ".." in Path(name).parts or "\\" in name:
        raise CorruptedArtifactError(
            f"The {flavor} model config names the file {name!r}, which is outside the model "
            "folder; the model is refused."
        )
    if not file.is_file():
        raise CorruptedArtifactError(
            f"The {flavor} model folder {str(path)!r} lacks its model file {file.name!r}; "
            "the artifact is incomplete. Save the model again."
        )
    return file


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _type_name(model: object) -> str:
    klass = type(model)
    return f"{klass.__module__}.{klass.__qualname__}"
