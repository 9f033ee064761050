"""Signatures: the input and output schema (names, types, shapes) a model version takes and gives.

The registry infers a signature when a model is logged; the server validates every
request batch against it, so a bad request gets a 4xx naming the column, the row, what
was expected and what came, and the model gets exactly the dtypes it was trained on::

    >>> import pandas as pd
    >>> from shipyard.core.signature import Schema, infer_schema, v2_metadata, validate
    >>> train = pd.DataFrame({"carrier": ["AA", "B6"], "distance": [1400, 1065]})
    >>> schema = infer_schema(train)
    >>> str(schema)
    'carrier: string, distance: long'
    >>> validate(schema, [{"distance": 200.0, "carrier": "UA"}]).dtypes.tolist()
    [<StringDtype(na_value=nan)>, dtype('int64')]
    >>> Schema.from_dict(schema.to_dict()) == schema
    True
    >>> [entry["datatype"] for entry in v2_metadata(schema)]
    ['BYTES', 'INT64']

The API:

- Types: :class:`ColumnType`, :class:`ColumnSpec`, :class:`Schema`, :class:`ParamSpec` and
  :class:`Signature`, immutable, with ``to_dict``/``from_dict`` for their JSON form
  (version :data:`SCHEMA_VERSION`).
- Inference: :func:`infer_schema` from example data, :func:`infer_signature` from example
  inputs, the outputs the model gave for them, and params.
- Validation: :func:`validate` for tables, :func:`validate_tensors`,
  :func:`validate_params`. All problems are raised at once as a
  :class:`SchemaValidationError` listing :class:`ColumnError` items (at most
  :data:`DEFAULT_MAX_ERRORS`; the rest are counted).
- Open Inference Protocol (KServe v2): :func:`to_v2_datatype`,
  :func:`column_type_from_v2`, :func:`tensor_dtype_from_v2`, :func:`v2_metadata`.

Column types and what validation accepts for each (anything else is refused):

========  ===========================================  ===============================
type      accepts                                      model gets
========  ===========================================  ===============================
double    ints and floats (never booleans or strings)  float64
float     ints and floats within float32's range       float32
long      ints; floats with no fractional part (3.0)   int64 (Int64 when nullable)
integer   as long, within 32 bits                      int32 (Int32 when nullable)
boolean   booleans only (never 0/1)                    bool (boolean when nullable)
string    strings only (never numbers)                 pandas' default string dtype
category  strings among the known categories           Categorical of those categories
datetime  datetimes, dates, ISO 8601 strings           datetime64[unit] or [unit, tz]
binary    bytes                                        object
tensor    arrays of the dtype or safely castable       ndarray (validate_tensors)
========  ===========================================  ===============================

Booleans and numbers are kept apart both ways: JSON's ``true`` and ``1`` are different
values, and a boolean arriving in a count column is almost always a client bug.
In a datetime column with a time zone, values with an offset are converted to it and
values without one are read as local times in it; a column without a time zone
refuses values with one (the local time the model learned from is unknown).

Missing values (None, NaN, NA, NaT) are nulls. A column is nullable when the data the
schema was inferred from had nulls in it; pass ``nullable="all"`` to
:func:`infer_schema` to accept nulls everywhere. Every column of the schema must be
present in a request; in records, a key left out of one record reads as a null.
"""

from shipyard.core.signature._errors import DEFAULT_MAX_ERRORS, ColumnError, SchemaValidationError
from shipyard.core.signature._infer import infer_schema, infer_signature
from shipyard.core.signature._types import (
    SCHEMA_VERSION,
    ColumnSpec,
    ColumnType,
    ParamSpec,
    Schema,
    Signature,
)
from shipyard.core.signature._v2 import (
    column_type_from_v2,
    tensor_dtype_from_v2,
    to_v2_datatype,
    v2_metadata,
)
from shipyard.core.signature._validate import validate, validate_params, validate_tensors

__all__ = [
    "DEFAULT_MAX_ERRORS",
    "SCHEMA_VERSION",
    "ColumnError",
    "ColumnSpec",
    "ColumnType",
    "ParamSpec",
    "Schema",
    "SchemaValidationError",
    "Signature",
    "column_type_from_v2",
    "infer_schema",
    "infer_signature",
    "tensor_dtype_from_v2",
    "to_v2_datatype",
    "v2_metadata",
    "validate",
    "validate_params",
    "validate_tensors",
]
