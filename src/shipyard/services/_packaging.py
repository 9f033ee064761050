"""Packaging a model version: flavor files, signature, example rows, reference profiles."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import RunInput
from shipyard.core.errors import InvalidInputError
from shipyard.core.ids import now_ms
from shipyard.services._model_files import write_manifest
from shipyard.stores import Store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Packaged", "package_model"]

#: Outputs for the signature and the output profile come from at most this many rows.
MAX_PREDICTED_ROWS = 100_000
EXAMPLE_ROWS = 5
EXPORT_EXAMPLE_ROWS = 8


@dataclass
class Packaged:
    """What packaging found out, for the registry row."""

    flavor: str
    signature: dict[str, Any] | None
    requirements: list[str]
    frame: pd.DataFrame | None  # the training data as a table, when it is tabular

    def training_dataset(self, target: Any, name: str, store: Store) -> RunInput | None:
        """Snapshot the training data (with the target as a column) as a dataset."""
        from shipyard.services.datasets import log_dataset

        frame = self.frame
        if frame is None:
            return None
        if target is not None:
            frame = _with_target(frame, target)
        dataset = log_dataset(frame, f"{name}-training", store=store)
        return RunInput(dataset.digest, dataset.name, "training")


def _as_frame(data: Any) -> pd.DataFrame | None:
    """Tabular training data as a DataFrame; 2-D arrays get columns x0, x1, ..."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pa.Table):
        frame: pd.DataFrame = data.to_pandas()
        return frame
    array = np.asarray(data)
    if array.ndim == 2 and array.dtype.kind in "biuf":
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    return None


def _with_target(frame: pd.DataFrame, target: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    values = np.asarray(target)
    if values.ndim != 1 or len(values) != len(frame):
        raise InvalidInputError(
            f"target must be one value per training row ({len(frame)}); got shape {values.shape}"
        )
    column = str(getattr(target, "name", None) or "target")
    if column in frame.columns:
        column = f"{column}_target"
    out = frame.reset_index(drop=True).copy()
    out[column] = pd.Series(values)
    return out


def _sample(data: Any) -> Any:
    """At most MAX_PREDICTED_ROWS rows, spread evenly over the data."""
    import numpy as np

    n = len(data)
    if n <= MAX_PREDICTED_ROWS:
        return data
    index = np.linspace(0, n - 1, MAX_PREDICTED_ROWS).astype(np.int64)
    if hasattr(data, "iloc"):
        return data.iloc[index]
    if hasattr(data, "take"):
        return data.take(index)
    return np.asarray(data)[index]


def _outputs(predictor: Any, sample: Any) -> tuple[Any, Any]:
    """The outputs for the signature, and as a table for the output profile.

    A classifier's outputs are its label and one probability per class.
    """
    import numpy as np
    import pandas as pd

    predictions = np.asarray(predictor.predict(sample))
    classes = getattr(predictor, "classes", None)
    if hasattr(predictor, "predict_proba") and classes is not None:
        proba = np.asarray(predictor.predict_proba(sample))
        table = pd.DataFrame({"prediction": predictions})
        for i, label in enumerate(classes):
            table[f"proba_{label}"] = proba[:, i]
        return table, table
    if predictions.ndim == 1:
        return predictions, pd.DataFrame({"prediction": predictions})
    if predictions.ndim == 2:
        columns = [f"prediction_{i}" for i in range(predictions.shape[1])]
        return predictions, pd.DataFrame(predictions, columns=columns)
    return predictions, None


def package_model(
    model: object,
    name: str,
    folder: Path,
    training_data: Any,
    *,
    flavor: str | None,
    options: Mapping[str, Any],
) -> Packaged:
    """Write a model's folder: flavor files, example, reference profiles, manifest."""
    import pyarrow as pa

    from shipyard.core.profiles import profile
    from shipyard.core.signature import infer_signature
    from shipyard.flavors import detect_flavor, get_flavor

    chosen = get_flavor(flavor) if flavor is not None else detect_flavor(model)
    options = dict(options)
    if "input_example" in chosen.save_options and "input_example" not in options:
        # torch.export traces the model on example inputs.
        if training_data is not None:
            options["input_example"] = training_data[:EXPORT_EXAMPLE_ROWS]
        elif options.get("format") != "state_dict":
            raise InvalidInputError(
                f"a {chosen.name} model is exported by running it on example inputs: pass "
                "training_data=..., or flavor_options={'input_example': ...}, or save it as "
                "flavor_options={'format': 'state_dict', ...}"
            )
    config = chosen.save(model, folder, **options)
    fields: dict[str, Any] = {
        "name": name,
        "flavor": chosen.name,
        "flavor_config": config,
        "tabular": chosen.tabular,
        "requirements": chosen.requirements(config),
        "created_at": now_ms(),
        "signature": None,
        "input_example": None,
        "reference_profile": None,
    }
    frame = None
    if training_data is not None:
        frame = _as_frame(training_data)
        if len(training_data) == 0:
            raise InvalidInputError("training_data has no rows; pass the data the model saw")
        predictor = chosen.load(folder, config)  # what a later load will give, not the object
        sample = _sample(training_data)
        outputs, output_table = _outputs(predictor, sample)
        signature = infer_signature(sample, outputs, nullable="observed")
        fields["signature"] = signature.to_dict()
        fields["input_example"] = _write_example(training_data, folder)
        profiles = {}
        if frame is not None:
            # An Arrow table is profiled as it is, without the trip through pandas.
            table = training_data if isinstance(training_data, pa.Table) else frame
            profiles["inputs"] = profile(table).to_dict()
        if output_table is not None:
            profiles["outputs"] = profile(output_table).to_dict()
        if profiles:
            (folder / "reference_profile.json").write_text(json.dumps(profiles, sort_keys=True))
            fields["reference_profile"] = "reference_profile.json"
    write_manifest(folder, fields)
    return Packaged(chosen.name, fields["signature"], fields["requirements"], frame)


def _write_example(data: Any, folder: Path) -> str:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    head = data.slice(0, EXAMPLE_ROWS) if isinstance(data, pa.Table) else data[:EXAMPLE_ROWS]
    if isinstance(head, pd.DataFrame | pa.Table):
        frame = head.to_pandas() if isinstance(head, pa.Table) else head
        frame.reset_index(drop=True).to_parquet(folder / "input_example.parquet", index=False)
        return "input_example.parquet"
    np.save(folder / "input_example.npy", np.asarray(head), allow_pickle=False)
    return "input_example.npy"
