"""Any Python object with a ``predict`` method, pickled with its code by cloudpickle."""

from __future__ import annotations

import abc
import json
import shutil
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import ConfigError, InvalidInputError
from shipyard.flavors._base import Flavor, Predictor, saved_file
from shipyard.flavors._convert import class_labels
from shipyard.flavors._deps import import_optional, installed_packages, pins
from shipyard.flavors._pickling import (
    PICKLE_PROTOCOL,
    dump_noting_modules,
    load_pickle,
    pickled_predictor,
)

if TYPE_CHECKING:
    pass

__all__ = ["PyfuncFlavor", "PythonModel"]

_FILE = "model.pkl"
_CODE = "code"


class PythonModel(abc.ABC):
    """Optional base class for models saved with the pyfunc flavor.

    Subclass it, implement ``predict``, and log an instance; any object with a
    ``predict`` method works the same way, this only documents the contract. The
    instance is pickled with cloudpickle, code included when it is not in an installed
    package, so it loads where the defining module cannot be imported. Add
    ``predict_proba(data)`` and a ``classes`` attribute for a classifier.

    Example:
        >>> class Doubler(PythonModel):
        ...     def predict(self, data):
        ...         return data["x"].to_numpy() * 2
    """

    @abc.abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for a batch: a pandas DataFrame with the signature's columns.

        Args:
            data: The batch, columns in signature order, dtypes already validated.

        Returns:
            One prediction per row, as anything ``numpy.asarray`` accepts.
        """

    def load_context(self, path: Path) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Called once after loading, before any predict: open files, warm caches.

        Args:
            path: The folder the model was saved in (``code/`` holds the code_paths).
        """


class PyfuncFlavor(Flavor):
    """Any object with a callable ``predict`` that no other flavor claims.

    The object is pickled with cloudpickle to ``model.pkl``. When its class's package
    is user code (``__main__``, a script or notebook module, a file outside
    site-packages), that package is pickled by value, so it loads in a process that
    cannot import it. After loading, ``load_context(path)`` is called if defined.

    Options:
        code_paths: Files or folders copied into ``code/``, which is put on
            ``sys.path`` before loading; modules found there are pickled by reference.
    """

    name: ClassVar[str] = "pyfunc"
    tabular: ClassVar[bool] = True
    modules: ClassVar[tuple[str, ...]] = ("cloudpickle", "numpy")
    save_options: ClassVar[tuple[str, ...]] = ("code_paths",)

    @classmethod
    def detect(cls, model: object) -> bool:
        """Whether ``model`` has a callable ``predict`` method."""
        return not isinstance(model, type) and callable(getattr(model, "predict", None))

    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        cloudpickle = import_optional("cloudpickle", flavor=self.name)
        listed = options.get("code_paths") or []
        sources = [Path(item) for item in ([listed] if isinstance(listed, str | Path) else listed)]
        code_paths = _copy_code(sources, path / _CODE)
        package = type(model).__module__.partition(".")[0]
        by_value = package == "__main__" or _is_user_code(sys.modules.get(package), sources)
        register = by_value and package != "__main__"
        if register and package in cloudpickle.list_registry_pickle_by_value():
            register = False  # the caller registered it; leave it registered
        if register:
            cloudpickle.register_pickle_by_value(sys.modules[package])
        try:
            with (path / _FILE).open("wb") as file:
                referenced = dump_noting_modules(model, file, pickler=cloudpickle.Pickler)
        finally:
            if register:
                cloudpickle.unregister_pickle_by_value(sys.modules[package])
        classes = class_labels(getattr(model, "classes", getattr(model, "classes_", None)))
        return {
            "file": _FILE,
            "pickle_protocol": PICKLE_PROTOCOL,
            "code_paths": code_paths,
            "by_value": [package] if by_value else [],
            "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
            "predict_proba": callable(getattr(model, "predict_proba", None)),
            "classes": classes if _json_able(classes) else None,
            "requirements": pins({*self.modules, *referenced}),
        }

    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        file = saved_file(path, config, _FILE, flavor=self.name)
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        saved_on = config.get("python_version", running)
        if config.get("by_value") and saved_on != running:
            raise ConfigError(
                f"This pyfunc model carries its code as Python {saved_on} bytecode; this is "
                f"Python {running}. Load it with Python {saved_on}, or save it again here."
            )
        code = path / _CODE if config.get("code_paths") else None
        missing = (
            "Loading the pyfunc model needs the module {module}, which cannot be imported "
            f"here. Install it ({self.requirements(config)}), or save the model with "
            "code_paths=[...] naming the files that define it."
        )
        with _code_on_path(code):
            model = load_pickle(file, self.requirements(config), missing)
        load_context = getattr(model, "load_context", None)
        if callable(load_context):
            load_context(path)
        return pickled_predictor(model, config)


@contextmanager
def _code_on_path(code: Path | None) -> Iterator[None]:
    """Import a model's own code from its folder while it is unpickled, and only then.

    Modules of the same name imported earlier (another model's ``helper.py``) are set
    aside for the duration, so each model gets its own; afterwards they are put back.
    The unpickled model keeps references to the modules it was built from.
    """
    if code is None:
        yield
        return
    names = {p.stem for p in code.glob("*.py")} | {
        p.name for p in code.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }

    def ours(module: str) -> bool:
        return module.partition(".")[0] in names

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if ours(name)}
    sys.path.insert(0, str(code))
    try:
        yield
    finally:
        sys.path.remove(str(code))
        for name in [n for n in sys.modules if ours(n)]:
            del sys.modules[name]
        sys.modules.update(saved)


def _copy_code(sources: list[Path], target: Path) -> list[str]:
    """Copy the files and folders ``sources`` into ``target``; return their names."""
    names: list[str] = []
    for source in sources:
        if not source.exists():
            raise InvalidInputError(
                f"code_paths lists {str(source)!r}, which does not exist; name the files or "
                "folders holding the model's code."
            )
        if source.name in names:
            raise InvalidInputError(
                f"code_paths lists two entries named {source.name!r}; they would land in "
                "the same place under code/. Rename one, or list their parent folder."
            )
        names.append(source.name)
        target.mkdir(exist_ok=True)
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, target / source.name, ignore=ignore)
        else:
            shutil.copy2(source, target / source.name)
    return names


def _is_user_code(module: ModuleType | None, code: list[Path]) -> bool:
    """Whether ``module`` (a top-level package) is code no installed distribution provides."""
    if module is None or module.__name__ == "shipyard":
        return False
    if module.__name__ in installed_packages() or module.__name__ in sys.stdlib_module_names:
        return False
    folders = list(getattr(module, "__path__", []))  # a namespace package has no __file__
    location = getattr(module, "__file__", None) or (folders[0] if folders else None)
    if location is None:  # built in, or made at runtime
        return False
    file = Path(location).resolve()
    installed = {sysconfig.get_path(key) for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    places = [*(Path(p).resolve() for p in installed if p), *(c.resolve() for c in code)]
    return not any(file.is_relative_to(place) for place in places)


def _json_able(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
