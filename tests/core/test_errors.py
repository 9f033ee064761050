"""The exception tree: one root, HTTP statuses, built-in bases, and a drawing that stays true."""

from __future__ import annotations

import builtins
import pickle
import re

import pytest

from shipyard.core import errors
from shipyard.core.errors import (
    ArtifactNotFoundError,
    ConfigError,
    InvalidFilterError,
    InvalidInputError,
    MalformedRequestError,
    NotFoundError,
    ParamConflictError,
    SchemaOutdatedError,
    ShipyardError,
    StoreError,
    UnsupportedMediaTypeError,
)

ERROR_CLASSES = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_descends_from_the_root(cls: type[ShipyardError]) -> None:
    assert issubclass(cls, ShipyardError)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_has_an_http_error_status(cls: type[ShipyardError]) -> None:
    assert type(cls.status_code) is int
    assert 400 <= cls.status_code <= 599


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (InvalidInputError, ValueError),
        (InvalidFilterError, ValueError),
        (ParamConflictError, ValueError),
        (MalformedRequestError, ValueError),
        (UnsupportedMediaTypeError, ValueError),
        (ConfigError, ValueError),
        (NotFoundError, KeyError),
        (ArtifactNotFoundError, KeyError),
        (ArtifactNotFoundError, FileNotFoundError),
        (ArtifactNotFoundError, NotFoundError),
        (SchemaOutdatedError, StoreError),
    ],
    ids=lambda value: value.__name__,
)
def test_errors_are_caught_by_the_builtin_they_resemble(
    cls: type[ShipyardError], builtin: type[Exception]
) -> None:
    with pytest.raises(builtin, match=r"^the message$"):
        raise cls("the message")


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (ShipyardError, 500),
        (InvalidInputError, 400),
        (InvalidFilterError, 400),
        (ParamConflictError, 409),
        (MalformedRequestError, 400),
        (UnsupportedMediaTypeError, 415),
        (NotFoundError, 404),
        (ArtifactNotFoundError, 404),
        (StoreError, 503),
        (SchemaOutdatedError, 503),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_status_codes(cls: type[ShipyardError], status: int) -> None:
    assert cls.status_code == status


@pytest.mark.parametrize(
    "cls", [NotFoundError, ArtifactNotFoundError], ids=lambda cls: cls.__name__
)
def test_key_error_subclasses_print_their_message_unquoted(cls: type[ShipyardError]) -> None:
    # A plain KeyError("x y") prints as "'x y'"; ours print the message as written.
    assert str(KeyError("x y")) == "'x y'"
    assert str(cls("x y")) == "x y"


def test_message_is_kept_as_an_attribute() -> None:
    error = InvalidInputError("expected a float, got 'abc'")
    assert error.message == "expected a float, got 'abc'"
    assert error.args == ("expected a float, got 'abc'",)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_to_dict_is_the_json_body(cls: type[ShipyardError]) -> None:
    body = cls("something went wrong").to_dict()
    assert body == {
        "error": {"type": cls.__name__, "message": "something went wrong", "details": []}
    }


def test_malformed_request_names_its_field_in_details() -> None:
    error = MalformedRequestError("records[2] is a list; send an object", field="records[2]")
    assert error.to_dict()["error"] == {
        "type": "MalformedRequestError",
        "message": "records[2] is a list; send an object",
        "details": [{"field": "records[2]", "message": "records[2] is a list; send an object"}],
    }
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.field) == (error.message, error.field)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_errors_survive_pickling(cls: type[ShipyardError]) -> None:
    # Errors cross process boundaries (multiprocessing, Ray workers) by pickling.
    copy = pickle.loads(pickle.dumps(cls("lost in transit")))
    assert type(copy) is cls
    assert str(copy) == "lost in transit"


# -- the drawing in the module docstring ------------------------------------------------

_DRAWING_LINE = re.compile(
    r"^(?P<indent>(?:│   |    )*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?P<rest>.*?(?P<status>\d{3}).*)$"
)


def _drawing() -> list[tuple[int, str, str, int]]:
    """(depth, class name, the rest of the line, status) for each line of the tree."""
    doc = errors.__doc__ or ""
    block = doc.split("::", 1)[1]
    rows = []
    for raw in block.splitlines():
        line = raw[4:]  # the block is indented four spaces in the docstring
        match = _DRAWING_LINE.match(line)
        if not raw.strip() or match is None:
            continue
        depth = len(match["indent"]) // 4 + (0 if line.startswith(match["name"]) else 1)
        rows.append((depth, match["name"], match["rest"], int(match["status"])))
    return rows


def test_drawing_names_every_error_once() -> None:
    names = [name for _, name, _, _ in _drawing()]
    assert sorted(names) == sorted(errors.__all__)


def test_drawing_shows_each_class_under_its_parent_with_its_status() -> None:
    parents: list[str] = []
    for depth, name, rest, status in _drawing():
        del parents[depth:]
        cls = getattr(errors, name)
        assert cls.status_code == status, f"{name} is drawn with {status}"
        if parents:
            parent = getattr(errors, parents[-1])
            assert parent in cls.__bases__, f"{name} is drawn under {parents[-1]}"
        for builtin_name in re.findall(r"\b(\w+Error)\b", rest):
            builtin = getattr(builtins, builtin_name)
            assert issubclass(cls, builtin), f"{name} is drawn as a {builtin_name}"
        parents.append(name)
