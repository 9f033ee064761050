"""The Open Inference Protocol (KServe v2) over HTTP, with Triton's binary data extension.

``POST /v2/models/{name}/infer`` takes a JSON object::

    {"id": "42",                                            # optional, echoed back
     "inputs": [{"name": "carrier", "shape": [2], "datatype": "BYTES",
                 "data": ["UA", "AA"]}, ...],
     "outputs": [{"name": "prediction", "parameters": {"binary_data": false}}],  # optional
     "parameters": {"binary_data_output": true}}            # optional

With the binary extension (what tritonclient sends by default), the
``Inference-Header-Content-Length`` header gives the JSON's length in bytes, and the
raw tensors follow it in the order of ``inputs``, each input saying its byte count in
``parameters.binary_data_size``: little-endian values, and for ``BYTES`` each element as
a 4-byte little-endian length and its bytes.

A table model takes one input per column, named as the signature's columns, each of
shape ``[n]`` or ``[n, 1]`` (``BYTES`` for text, read as UTF-8; kept as bytes for a
``binary`` column). A tensor model takes its tensors by name, in their shapes.

Outputs are named as in the signature's outputs, which ``GET /v2/models/{name}`` lists:
``prediction`` (the label, or the value of a regressor, shape ``[n]``; ``[n, k]`` for a
model with k outputs) and, for a classifier, one ``proba_<class>`` tensor of shape
``[n]`` per class (``FP64``), as the registry records them in the signature. So a client
asks for the probability it wants by name, e.g. ``InferRequestedOutput("proba_late")``.
"""

from shipyard.server._v2_answer import encode_v2_infer, v2_model_metadata
from shipyard.server._v2_request import HEADER_LENGTH, decode_v2_infer, v2_output_names

__all__ = [
    "HEADER_LENGTH",
    "decode_v2_infer",
    "encode_v2_infer",
    "v2_model_metadata",
    "v2_output_names",
]
