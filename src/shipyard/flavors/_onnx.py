"""ONNX models, run with onnxruntime on the CPU."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import CorruptedArtifactError, InvalidInputError
from shipyard.flavors._base import Flavor, Predictor, from_library, saved_file
from shipyard.flavors._convert import as_matrix
from shipyard.flavors._deps import import_optional

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OnnxFlavor"]

_FILE = "model.onnx"
#: onnxruntime's tensor type names and the numpy dtypes fed to them.
_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint64)": "uint64",
    "tensor(uint32)": "uint32",
    "tensor(uint16)": "uint16",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}
_LABEL_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


class OnnxFlavor(Flavor):
    """An ONNX model: an ``onnx.ModelProto``, its serialized bytes, or a ``.onnx`` file path.

    Saved as ``model.onnx``; loading needs onnxruntime only. ``predict`` feeds a single
    input the whole batch, cast to the input's type; a model with several inputs (as
    skl2onnx makes with one input per column) takes a DataFrame, one column per input,
    by name, or a dict of arrays. The first output is the prediction; a second output
    that is a 2-d float tensor, or a ZipMap's list of dicts, is ``predict_proba`` (in
    the order of ``classes``, read from the graph's classifier labels). Options: none.
    """

    name: ClassVar[str] = "onnx"
    tabular: ClassVar[bool] = False
    modules: ClassVar[tuple[str, ...]] = ("onnxruntime", "numpy")

    @classmethod
    def detect(cls, model: object) -> bool:
        """Whether ``model`` is a ModelProto, bytes, or a path ending in ``.onnx``."""
        if isinstance(model, bytes | bytearray | memoryview):
            return True
        if isinstance(model, str | os.PathLike):
            return str(os.fspath(model)).lower().endswith(".onnx")
        return type(model).__name__ == "ModelProto" and from_library(model, "onnx")

    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        onnx = import_optional("onnx", flavor=self.name)
        if isinstance(model, str | os.PathLike):
            source = Path(os.fspath(model))
            if not source.is_file():
                raise InvalidInputError(
                    f"The onnx flavor saves a .onnx file; {str(source)!r} is not a file."
                )
            data = source.read_bytes()
        elif isinstance(model, bytes | bytearray | memoryview):
            data = bytes(model)
        else:
            data = model.SerializeToString()  # type: ignore[attr-defined]
        try:
            proto = onnx.load_model_from_string(data)
        except Exception as exc:  # protobuf's DecodeError, without importing protobuf
            raise InvalidInputError(
                f"The onnx flavor got bytes that are not an ONNX model ({exc}); pass an "
                "onnx.ModelProto, its SerializeToString() bytes, or a .onnx path."
            ) from exc
        if not proto.graph.output:
            raise InvalidInputError("The ONNX model has no outputs; export it again.")
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
            raise InvalidInputError(
                "The ONNX model keeps weights in external data files, which the onnx flavor "
                "does not carry; pass the model with its weights inside (onnx.load loads them)."
            )
        (path / _FILE).write_bytes(data)
        initializers = {tensor.name for tensor in proto.graph.initializer}
        return {
            "file": _FILE,
            "inputs": [i.name for i in proto.graph.input if i.name not in initializers],
            "outputs": [output.name for output in proto.graph.output],
            "classes": _classes(proto.graph),
            "opsets": {entry.domain or "ai.onnx": entry.version for entry in proto.opset_import},
            "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        }

    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        ort = import_optional("onnxruntime", flavor=self.name)
        file = saved_file(path, config, _FILE, flavor=self.name)
        try:
            session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types are not public
            raise CorruptedArtifactError(
                f"onnxruntime {ort.__version__} cannot load {str(file)!r} ({exc}); save the "
                "model again, or with an opset this onnxruntime supports."
            ) from exc
        classes = config.get("classes")
        outputs = session.get_outputs()
        if len(outputs) > 1 and _is_probabilities(outputs[1]):
            return _OnnxClassifier(session, classes)
        return _OnnxPredictor(session, classes)


class _OnnxPredictor:
    """A loaded ONNX model: the first output is the prediction."""

    def __init__(self, session: Any, classes: list[Any] | None) -> None:
        self.session = session
        self.classes = classes
        self.inputs = session.get_inputs()
        self.outputs = session.get_outputs()

    def predict(self, data: Any) -> np.ndarray:
        import numpy as np

        (result,) = self.session.run([self.outputs[0].name], self._feeds(data))
        return np.asarray(result)

    def _feeds(self, data: Any) -> dict[str, Any]:
        names = [node.name for node in self.inputs]
        if isinstance(data, Mapping):
            missing = [name for name in names if name not in data]
            if missing:
                raise InvalidInputError(
                    f"The ONNX model takes the inputs {names}; the dict lacks {missing}."
                )
            return {node.name: _cast(data[node.name], node) for node in self.inputs}
        if len(self.inputs) == 1:
            return {names[0]: _cast(data, self.inputs[0])}
        columns = getattr(data, "columns", None)
        if columns is None:
            raise InvalidInputError(
                f"The ONNX model takes {len(names)} inputs, {names}; pass a DataFrame with "
                f"one column per input (or a dict of arrays), not a {type(data).__name__}."
            )
        missing = [name for name in names if name not in columns]
        if missing:
            raise InvalidInputError(
                f"The ONNX model takes one column per input, {names}; the DataFrame lacks "
                f"{missing} (it has {list(columns)})."
            )
        feeds = {}
        for node in self.inputs:
            values = data[node.name].to_numpy()
            if len(node.shape) == 2:  # skl2onnx's per-column inputs are [None, 1]
                values = values.reshape(-1, 1)
            feeds[node.name] = _cast(values, node)
        return feeds


class _OnnxClassifier(_OnnxPredictor):
    """A loaded ONNX classifier: the second output gives the class probabilities."""

    def predict_proba(self, data: Any) -> np.ndarray:
        import numpy as np

        (result,) = self.session.run([self.outputs[1].name], self._feeds(data))
        if isinstance(result, list):  # ZipMap: one {class: probability} dict per row
            order = self.classes if self.classes is not None else list(result[0] if result else [])
            rows = [[row[label] for label in order] for row in result]
            return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(order))
        return np.asarray(result)


def _cast(values: Any, node: Any) -> Any:
    """``values`` as the numpy array onnxruntime takes for the input ``node``."""
    import numpy as np

    dtype = _DTYPES.get(node.type)
    if dtype is None:
        raise InvalidInputError(
            f"The ONNX model's input {node.name!r} has type {node.type}, which the onnx "
            f"flavor cannot feed; it feeds {sorted(_DTYPES)}."
        )
    if dtype == "str":
        to_numpy = getattr(values, "to_numpy", None)
        array = np.asarray(to_numpy() if callable(to_numpy) else values)
        return array.astype(str)
    return as_matrix(values, dtype, flavor="onnx")


def _is_probabilities(output: Any) -> bool:
    """Whether an output holds class probabilities: a ZipMap or a 2-d float tensor."""
    if str(output.type).startswith("seq(map("):
        return True
    return output.type in {"tensor(float)", "tensor(double)"} and len(output.shape) == 2


def _classes(graph: Any) -> list[Any] | None:
    """The class labels a ZipMap or a classifier node names, in their order, or None."""
    nodes = sorted(graph.node, key=lambda node: node.op_type != "ZipMap")
    for node in nodes:
        for attribute in node.attribute:
            if attribute.name in _LABEL_ATTRIBUTES:
                if attribute.strings:
                    return [label.decode("utf-8") for label in attribute.strings]
                if attribute.ints:
                    return list(attribute.ints)
    return None
