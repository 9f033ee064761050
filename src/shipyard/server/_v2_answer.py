"""Open Inference Protocol answers: ``/v2/models/{name}/infer`` results and model metadata.

Outputs are named as in the signature's outputs (see :mod:`shipyard.server._v2`), in JSON
or, where asked, with the binary data extension: the JSON first, its length in the
``Inference-Header-Content-Length`` header, then each binary output's bytes in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from shipyard.core.errors import MalformedRequestError
from shipyard.core.signature import ColumnSpec, Signature, v2_metadata
from shipyard.core.signature import to_v2_datatype as _column_datatype
from shipyard.server._codec import Parsed, RequestedOutput, jsonable
from shipyard.server._v2_request import _LENGTH, _NUMPY_BY_V2, HEADER_LENGTH

__all__ = ["encode_v2_infer", "v2_model_metadata"]

_V2_BY_KIND_SIZE = {(dtype.kind, dtype.itemsize): name for name, dtype in _NUMPY_BY_V2.items()}


def encode_v2_infer(
    parsed: Parsed,
    *,
    model_name: str,
    model_version: int | str,
    predictions: Any,
    probabilities: Any = None,
    classes: Sequence[Any] | None = None,
    signature: Signature | None = None,
    prediction_ids: Sequence[str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The inference answer for one request, in JSON or with the binary extension.

    Outputs are ``prediction`` and, with probabilities, one ``proba_<class>`` per class
    (see :mod:`shipyard.server._v2`); a 2-D prediction whose width matches a signature of
    named output columns is split into those columns. Those that ``parsed.outputs``
    lists, in its order, or all of them; each in binary when asked.

    Args:
        parsed: The request, as :func:`decode_v2_infer` gave it.
        model_name: The model's name, echoed as ``model_name``.
        model_version: The version that answered, as ``model_version`` (a string).
        predictions: The model's predictions for the request's rows.
        probabilities: A classifier's probabilities, one column per class.
        classes: The class labels, in the order of the probabilities' columns.
        signature: The model's signature; its outputs give the datatypes.
        prediction_ids: The rows' prediction ids, sent back (comma-separated) in the
            answer's ``parameters.prediction_ids`` so feedback can name them.

    Returns:
        The body, and the headers to send with it: ``Content-Type``, and
        ``Inference-Header-Content-Length`` when binary outputs follow the JSON.

    Raises:
        MalformedRequestError: The request asked for an output the answer does not have.
    """
    tensors = _output_tensors(predictions, probabilities, classes, signature)
    wanted = parsed.outputs
    if wanted is None:
        wanted = tuple(RequestedOutput(name, parsed.binary_output) for name in tensors)
    schema = signature.outputs if signature is not None else None
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for output in wanted:
        array = tensors.get(output.name)
        if array is None:
            raise MalformedRequestError(
                f"Output {output.name!r} was asked for, but this model's answer holds "
                f"{', '.join(tensors)}.",
                "outputs",
            )
        column = schema[output.name] if schema is not None and output.name in schema else None
        datatype, array = _output_array(array, column)
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": datatype,
            "shape": list(array.shape),
        }
        if output.binary:
            raw = _pack(array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = jsonable(array.reshape(-1))
        entries.append(entry)
    document: dict[str, Any] = {"model_name": model_name, "model_version": str(model_version)}
    if parsed.request_id is not None:
        document["id"] = parsed.request_id
    if prediction_ids is not None:
        document["parameters"] = {"prediction_ids": ",".join(prediction_ids)}
    document["outputs"] = entries
    header = orjson.dumps(document)
    if not chunks:
        return header, {"Content-Type": "application/json"}
    body = b"".join([header, *chunks])
    return body, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}


def _output_tensors(
    predictions: Any, probabilities: Any, classes: Sequence[Any] | None, signature: Signature | None
) -> dict[str, np.ndarray[Any, Any]]:
    predictions = np.asarray(predictions)
    schema = signature.outputs if signature is not None else None
    if (
        probabilities is None
        and predictions.ndim == 2
        and schema is not None
        and not schema.is_tensor
        and len(schema) == predictions.shape[1]
    ):
        return {name: predictions[:, i] for i, name in enumerate(schema.names)}
    out = {"prediction": predictions}
    if probabilities is not None:
        proba = np.asarray(probabilities)
        labels = list(classes) if classes is not None else list(range(proba.shape[1]))
        for i, label in enumerate(labels):
            out[f"proba_{label}"] = proba[:, i]
    return out


def _output_array(
    array: np.ndarray[Any, Any], column: ColumnSpec | None
) -> tuple[str, np.ndarray[Any, Any]]:
    """The datatype to send an output as (the signature's when it has it), and the array."""
    if column is not None:
        datatype = _column_datatype(column)
        if datatype == "BYTES" or array.dtype.kind not in "biuf":
            return "BYTES", array
        if (datatype == "BOOL") == (array.dtype.kind == "b"):
            return datatype, array.astype(_NUMPY_BY_V2[datatype], copy=False)
    kind = array.dtype.kind
    if kind in "biuf" and (kind, array.dtype.itemsize) in _V2_BY_KIND_SIZE:
        return _V2_BY_KIND_SIZE[(kind, array.dtype.itemsize)], array
    return "BYTES", array


def _pack(array: np.ndarray[Any, Any], datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=_NUMPY_BY_V2[datatype]).tobytes()
    parts: list[bytes] = []
    for value in array.reshape(-1).tolist():
        if type(value) is str:
            raw = value.encode()
        elif isinstance(value, bytes):
            raw = value
        else:
            text = jsonable(np.array([value], dtype=object))[0]
            raw = b"" if text is None else str(text).encode()
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


# -- metadata --------------------------------------------------------------------------------


def v2_model_metadata(
    name: str, versions: Sequence[int | str], signature: Signature | None, platform: str
) -> dict[str, Any]:
    """The answer to ``GET /v2/models/{name}``: name, versions, platform, inputs, outputs.

    Inputs and outputs come from the signature (empty lists without one); the outputs
    are the names :func:`encode_v2_infer` answers with.

    Example:
        >>> from shipyard.core.signature import infer_signature
        >>> sig = infer_signature({"distance": [1400, 733]}, [0.2, 0.4])
        >>> v2_model_metadata("delays", [3], sig, "shipyard-sklearn")["outputs"]
        [{'name': 'prediction', 'datatype': 'FP64', 'shape': [-1]}]
    """
    inputs = v2_metadata(signature.inputs) if signature is not None else []
    outputs = (
        v2_metadata(signature.outputs)
        if signature is not None and signature.outputs is not None
        else []
    )
    return {
        "name": name,
        "versions": [str(version) for version in versions],
        "platform": platform,
        "inputs": inputs,
        "outputs": outputs,
    }
