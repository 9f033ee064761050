"""A model's files: what is written for each version, and how it is read back, verified.

A version is a folder of files under one prefix of the artifact store::

    shipyard-model.json       the manifest: flavor and its config, signature, requirements,
                              and the sha256 of every other file
    model.pkl | model.txt...  the flavor's own files
    input_example.parquet     a few training rows (``.npy`` for tensor models)
    reference_profile.json    profiles of the training inputs and of the model's outputs

The registry records the manifest's sha256 and the manifest records every other
file's, so one hash in the database vouches for every byte that is loaded.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard._version import __version__
from shipyard.core.errors import CorruptedArtifactError, InvalidInputError
from shipyard.stores import Store, validate_artifact_path

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "ModelFiles",
    "fetch_model_files",
    "read_manifest",
    "upload_model_files",
    "verify_folder",
    "write_manifest",
]

MANIFEST = "shipyard-model.json"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelFiles:
    """A model's folder on this machine, with its parsed manifest."""

    path: Path
    manifest: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Write the manifest of a packaged model folder, hashing every file in it."""
    files = {
        file.relative_to(folder).as_posix(): {"sha256": _sha256(file), "size": file.stat().st_size}
        for file in sorted(folder.rglob("*"))
        if file.is_file() and file.name != MANIFEST
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        **fields,
        "python": platform.python_version(),
        "shipyard_version": __version__,
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    return manifest


def read_manifest(data: bytes, where: str) -> dict[str, Any]:
    """Parse a manifest, refusing one this shipyard cannot read."""
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise CorruptedArtifactError(f"model manifest at {where} is not JSON: {exc}") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise InvalidInputError(
            f"model at {where} has format version {version!r}; this shipyard reads "
            f"{FORMAT_VERSION}. Upgrade shipyard to load it"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not isinstance(manifest.get("flavor"), str):
        raise CorruptedArtifactError(f"model manifest at {where} lacks its flavor or file list")
    for name, info in files.items():
        # A name must stay inside the model's folder: no absolute paths, no '..'.
        if not isinstance(name, str) or _clean_name(name) != name:
            raise CorruptedArtifactError(
                f"model manifest at {where} lists the file {name!r}, which is outside the "
                "model folder; the model is refused"
            )
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise CorruptedArtifactError(f"model manifest at {where} has no sha256 for {name!r}")
    return dict(manifest)


def _clean_name(name: str) -> str | None:
    try:
        return validate_artifact_path(name)
    except InvalidInputError:
        return None


def upload_model_files(store: Store, folder: Path, prefix: str) -> dict[str, Any]:
    """Copy a packaged folder under ``prefix``; returns the stored ArtifactInfo per file."""
    stored = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        stored[relative] = store.artifacts.put_file(file, f"{prefix}/{relative}")
    return stored


def fetch_model_files(store: Store, prefix: str, manifest_sha256: str) -> ModelFiles:
    """The model's folder, every file checked against the hashes that vouch for it.

    A local store is read in place; files from an object store are downloaded into the
    cache under the home directory, keyed by the manifest's hash.

    Raises:
        CorruptedArtifactError: a file's bytes differ from what was recorded.
        ArtifactNotFoundError: a file is missing.
    """
    artifacts = store.artifacts
    key = f"{prefix}/{MANIFEST}"
    manifest = read_manifest(artifacts.get_bytes(key, manifest_sha256), artifacts.uri(key))
    files: Mapping[str, Mapping[str, Any]] = manifest.get("files", {})
    if artifacts.is_local:
        folder = artifacts.local_path(key).parent  # the manifest was verified as it was read
        for name, info in files.items():
            artifacts.verified_local_path(f"{prefix}/{name}", info["sha256"])
        return ModelFiles(folder, manifest)
    folder = store.settings.home_dir / "cache" / "models" / manifest_sha256
    for name, info in files.items():
        target = folder / name
        if target.is_file() and _sha256(target) == info["sha256"]:
            continue
        artifacts.download(f"{prefix}/{name}", target, info["sha256"])
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return ModelFiles(folder, manifest)


def verify_folder(folder: Path) -> ModelFiles:
    """A model folder given by path: its files checked against its own manifest."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise InvalidInputError(
            f"{str(folder)!r} is not a shipyard model folder: it has no {MANIFEST}"
        )
    manifest = read_manifest(manifest_path.read_bytes(), str(manifest_path))
    for name, info in manifest.get("files", {}).items():
        file = folder / name
        if not file.is_file():
            raise CorruptedArtifactError(f"model folder {str(folder)!r} is missing {name!r}")
        if _sha256(file) != info["sha256"]:
            raise CorruptedArtifactError(
                f"{name!r} in model folder {str(folder)!r} is corrupted: its sha256 differs "
                "from the one in the manifest. Restore it or register the model again"
            )
    return ModelFiles(folder, manifest)


def read_reference_profiles(store: Store, prefix: str, manifest_sha256: str) -> dict[str, Any]:
    """A version's reference profiles as stored JSON, without loading the model itself.

    Returns an empty dict when the version was registered without training data.

    Raises:
        CorruptedArtifactError: the manifest or the profile file differs from its hash.
        ArtifactNotFoundError: either file is missing.
    """
    artifacts = store.artifacts
    key = f"{prefix}/{MANIFEST}"
    manifest = read_manifest(artifacts.get_bytes(key, manifest_sha256), artifacts.uri(key))
    name = manifest.get("reference_profile")
    if not name:
        return {}
    info = manifest["files"][name]
    raw: dict[str, Any] = json.loads(artifacts.get_bytes(f"{prefix}/{name}", info["sha256"]))
    return raw
