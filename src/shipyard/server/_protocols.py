"""The request and response codecs of the three serving protocols, free of any web framework.

Each parser takes a raw body (and the headers it needs) and gives a :class:`Parsed`:
inputs that :meth:`shipyard.services.LoadedModel.prepare` accepts, their row count and
the protocol's extras. A body that is not what the protocol defines raises a
:class:`~shipyard.core.errors.MalformedRequestError` (400) naming the field, or an
:class:`~shipyard.core.errors.UnsupportedMediaTypeError` (415); never anything else.
Checking the inputs against the signature (names, types, nulls) stays with
``prepare``, once per batch.

- Native (``/v1/endpoints/{name}/predict``): :func:`parse_native`.
- MLflow scoring (``/invocations``): :func:`parse_mlflow`, :func:`format_mlflow`.
- Open Inference Protocol, KServe v2 (``/v2/models/{name}/infer``):
  :func:`decode_v2_infer`, :func:`encode_v2_infer`, :func:`v2_model_metadata`.
"""

from shipyard.server._codec import Kind, Parsed, RequestedOutput
from shipyard.server._mlflow import format_mlflow, parse_mlflow
from shipyard.server._native import MAX_ID_LENGTH, parse_native
from shipyard.server._v2 import (
    HEADER_LENGTH,
    decode_v2_infer,
    encode_v2_infer,
    v2_model_metadata,
    v2_output_names,
)

__all__ = [
    "HEADER_LENGTH",
    "MAX_ID_LENGTH",
    "Kind",
    "Parsed",
    "RequestedOutput",
    "decode_v2_infer",
    "encode_v2_infer",
    "format_mlflow",
    "parse_mlflow",
    "parse_native",
    "v2_model_metadata",
    "v2_output_names",
]
