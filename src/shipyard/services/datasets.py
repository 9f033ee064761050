"""Datasets: named, content-addressed Parquet snapshots with their schema and profile.

The digest is a sha256 of the table's content (column names, types and values, in row
order), so logging the same table twice, under any name, stores one snapshot.

Example:
    >>> import pandas as pd
    >>> import shipyard
    >>> train = shipyard.log_dataset(pd.DataFrame({"x": [1, 2]}), "train")  # doctest: +SKIP
    >>> with shipyard.start_run("flights") as run:  # doctest: +SKIP
    ...     run.log_input(train)
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import Dataset
from shipyard.core.errors import InvalidInputError
from shipyard.core.ids import from_ms, now_ms
from shipyard.services._common import check_name, current_user
from shipyard.services._context import get_default_store
from shipyard.stores import Store

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from shipyard.core.profiles import Profile

__all__ = [
    "dataset_digest",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "load_dataset_profile",
    "log_dataset",
]

_BATCH_ROWS = 1 << 16


def to_arrow(data: Any) -> pa.Table:
    """A pandas DataFrame or pyarrow Table as a Table with plain (not large) string types."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InvalidInputError(f"cannot store this DataFrame as Parquet: {exc}") from exc
    elif isinstance(data, pa.Table):
        table = data
    else:
        raise InvalidInputError(
            f"a dataset is a pandas DataFrame or a pyarrow Table, got {type(data).__name__}"
        )
    # The same values must give the same digest whichever string flavour holds them.
    fields = []
    for field in table.schema:
        if pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type):
            field = field.with_type(pa.string())
        elif pa.types.is_large_binary(field.type):
            field = field.with_type(pa.binary())
        fields.append(field.remove_metadata())
    return table.cast(pa.schema(fields))


class _HashSink(io.RawIOBase):
    """A write-only file that hashes what is written to it instead of keeping it."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        return view.nbytes


def dataset_digest(data: Any) -> str:
    """The content digest of a DataFrame or Arrow Table (hex sha256).

    Example:
        >>> import pandas as pd
        >>> dataset_digest(pd.DataFrame({"x": [1]})) == dataset_digest(pd.DataFrame({"x": [1]}))
        True
    """
    import pyarrow as pa

    table = to_arrow(data).combine_chunks()
    sink = _HashSink()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
            writer.write_batch(batch)
    return sink.digest.hexdigest()


def log_dataset(
    data: Any, name: str, *, description: str = "", store: Store | None = None
) -> Dataset:
    """Store a snapshot of a table under a name, with its schema and profile.

    Args:
        data: a pandas DataFrame or a pyarrow Table.
        name: the dataset's name; one name can hold many snapshots (one per content).
        description: free text shown with it.
        store: where to keep it (default: the store from settings).

    Returns:
        The dataset, with its digest. Logging the same content again returns the
        existing snapshot.
    """
    import pyarrow.parquet as pq

    from shipyard.core.profiles import profile
    from shipyard.core.signature import infer_schema

    check_name("dataset", name)
    store = store if store is not None else get_default_store()
    table = to_arrow(data)
    digest = dataset_digest(table)
    existing = store.registry.find_datasets(digest)
    same = [d for d in existing if d.digest == digest]
    if any(d.name == name for d in same):
        return next(d for d in same if d.name == name)
    if same:  # the content is stored already: only the new name is recorded
        snapshot_sha, profile_sha = same[0].snapshot_sha256, same[0].profile_sha256
    else:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        key = f"datasets/{digest}"
        snapshot_sha = store.artifacts.put_bytes(buffer.getvalue(), f"{key}/data.parquet").sha256
        summary = json.dumps(profile(table).to_dict(), sort_keys=True).encode()
        profile_sha = store.artifacts.put_bytes(summary, f"{key}/profile.json").sha256
    item = Dataset(
        name=name,
        digest=digest,
        num_rows=table.num_rows,
        num_columns=table.num_columns,
        size_bytes=table.nbytes,
        schema=infer_schema(table).to_dict(),
        created_at=from_ms(now_ms()),
        snapshot_sha256=snapshot_sha,
        profile_sha256=profile_sha,
        created_by=current_user(),
        description=description,
    )
    return store.registry.record_dataset(item)


def get_dataset(name: str, digest: str | None = None, *, store: Store | None = None) -> Dataset:
    """A dataset by name: the newest snapshot, or the one with this digest (or prefix)."""
    store = store if store is not None else get_default_store()
    return store.registry.get_dataset(name, digest)


def list_datasets(name: str | None = None, *, store: Store | None = None) -> list[Dataset]:
    """Every dataset snapshot (or those of one name), newest first."""
    store = store if store is not None else get_default_store()
    return store.registry.list_datasets(name)


def load_dataset(
    dataset: Dataset | str, digest: str | None = None, *, store: Store | None = None
) -> pd.DataFrame:
    """Read a snapshot back as a DataFrame, verifying its bytes on the way."""
    import pyarrow.parquet as pq

    store = store if store is not None else get_default_store()
    item = dataset if isinstance(dataset, Dataset) else store.registry.get_dataset(dataset, digest)
    data = store.artifacts.get_bytes(item.snapshot_key, item.snapshot_sha256)
    frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
    return frame


def load_dataset_profile(dataset: Dataset, *, store: Store | None = None) -> Profile:
    """The stored profile of a snapshot."""
    from shipyard.core.profiles import Profile

    store = store if store is not None else get_default_store()
    raw = store.artifacts.get_bytes(dataset.profile_key, dataset.profile_sha256)
    return Profile.from_dict(json.loads(raw))
