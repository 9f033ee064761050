"""The artifact store, on a local folder and on a real S3-compatible server (moto, on loopback).

Every contract test runs on both backends; a few tests about local atomic writes and
URL handling run on the folder only.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import AioSession
from moto.server import ThreadedMotoServer

from shipyard.core.entities import ArtifactInfo
from shipyard.core.errors import (
    ArtifactNotFoundError,
    ConfigError,
    CorruptedArtifactError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)
from shipyard.stores import ArtifactStore, validate_artifact_path

BUCKET = "shipyard-artifacts"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"
#: More than the store's 1 MiB chunk, so reads and writes loop.
BIG = os.urandom((5 << 20) // 2)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- backends ---------------------------------------------------------------------------


@dataclass
class Backend:
    """A store plus a way to reach its bytes without going through it."""

    store: ArtifactStore
    #: every stored name under the root, relative and sorted (temporary files included)
    listing: Callable[[], list[str]]
    #: replace a key's bytes behind the store's back
    overwrite: Callable[[str, bytes], None]


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep a developer's AWS profile, config files and instance metadata out of the tests."""
    nowhere = tmp_path_factory.mktemp("aws") / "missing"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(nowhere))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def s3_endpoint(aws_env: None) -> Iterator[str]:
    """A moto S3 server on a free loopback port, with one bucket, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client, to reach objects behind the store's back."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **CREDENTIALS)


@pytest.fixture(scope="session")
def s3_session(aws_env: None) -> AioSession:
    """One botocore session for every S3 store: it caches the parsed service models,
    which would otherwise be loaded again for each fresh filesystem (a third of a second)."""
    return AioSession()


def s3_options(endpoint: str, session: AioSession) -> dict[str, Any]:
    return {
        "session": session,
        "key": CREDENTIALS["aws_access_key_id"],
        "secret": CREDENTIALS["aws_secret_access_key"],
        "client_kwargs": {"endpoint_url": endpoint, "region_name": REGION},
        # Fresh filesystem objects with no listing cache, so no state leaks between tests
        # and changes made behind the store's back are seen.
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }


def local_backend(root: Path) -> Backend:
    def listing() -> list[str]:
        if not root.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def overwrite(key: str, data: bytes) -> None:
        (root / key).write_bytes(data)

    return Backend(ArtifactStore(str(root)), listing, overwrite)


def s3_backend(endpoint: str, session: AioSession, client: Any) -> Backend:
    prefix = f"runs-{uuid.uuid4().hex}"  # one prefix per test keeps tests apart

    def listing() -> list[str]:
        response = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
        return sorted(item["Key"][len(prefix) + 1 :] for item in response.get("Contents", []))

    def overwrite(key: str, data: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=data)

    store = ArtifactStore(f"s3://{BUCKET}/{prefix}", storage_options=s3_options(endpoint, session))
    return Backend(store, listing, overwrite)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return local_backend(tmp_path / "artifacts")
    return s3_backend(
        request.getfixturevalue("s3_endpoint"),
        request.getfixturevalue("s3_session"),
        request.getfixturevalue("s3_client"),
    )


@pytest.fixture
def store(backend: Backend) -> ArtifactStore:
    return backend.store


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    return tmp_path / "downloads"


def files_in(folder: Path) -> list[str]:
    """Everything left in a local folder, hidden temporary files included."""
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- writing and reading ----------------------------------------------------------------


def test_put_bytes_returns_path_size_and_sha256(backend: Backend) -> None:
    info = backend.store.put_bytes(b"hello", "notes/hello.txt")
    assert info == ArtifactInfo("notes/hello.txt", 5, sha256(b"hello"))
    assert backend.listing() == ["notes/hello.txt"]


def test_put_file_returns_path_size_and_sha256(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(BIG)
    info = backend.store.put_file(source, "model/weights.bin")
    assert info == ArtifactInfo("model/weights.bin", len(BIG), sha256(BIG))
    assert backend.listing() == ["model/weights.bin"]
    assert source.read_bytes() == BIG  # the source is copied, not moved


def test_put_file_accepts_a_string_path(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "config.json"
    source.write_text("{}")
    assert store.put_file(str(source), "config.json").sha256 == sha256(b"{}")


@pytest.mark.parametrize("data", [b"", b"x", BIG], ids=["empty", "one-byte", "several-chunks"])
def test_get_bytes_round_trip(store: ArtifactStore, data: bytes) -> None:
    info = store.put_bytes(data, "blob.bin")
    assert info.size == len(data)
    assert store.get_bytes("blob.bin", info.sha256) == data


@pytest.mark.parametrize("data", [b"", BIG], ids=["empty", "several-chunks"])
def test_download_round_trip(store: ArtifactStore, downloads: Path, data: bytes) -> None:
    info = store.put_bytes(data, "data/blob.bin")
    dest = downloads / "new" / "folder" / "blob.bin"
    assert store.download("data/blob.bin", dest, info.sha256) == dest
    assert dest.read_bytes() == data
    assert files_in(downloads) == ["new/folder/blob.bin"]  # no temporary file left


def test_download_replaces_an_existing_file(store: ArtifactStore, downloads: Path) -> None:
    info = store.put_bytes(b"new", "a.txt")
    dest = downloads / "a.txt"
    downloads.mkdir()
    dest.write_bytes(b"old contents")
    store.download("a.txt", str(dest), info.sha256)
    assert dest.read_bytes() == b"new"


def test_overwriting_a_key_replaces_its_bytes(backend: Backend) -> None:
    store = backend.store
    first = store.put_bytes(b"version 1", "model.pkl")
    second = store.put_bytes(b"version 2, longer", "model.pkl")
    assert second.sha256 != first.sha256
    assert store.get_bytes("model.pkl", second.sha256) == b"version 2, longer"
    assert backend.listing() == ["model.pkl"]


def test_nested_keys_are_independent(backend: Backend) -> None:
    store = backend.store
    keys = ["a.txt", "a/b.txt", "a/b/c/d.txt", "plots/2024/roc curve.png"]
    infos = {key: store.put_bytes(key.encode(), key) for key in keys}
    assert backend.listing() == sorted(keys)
    for key, info in infos.items():
        assert store.get_bytes(key, info.sha256) == key.encode()


def test_exists_and_delete(store: ArtifactStore) -> None:
    assert not store.exists("report.html")
    store.put_bytes(b"<html/>", "reports/report.html")
    assert store.exists("reports/report.html")
    assert store.exists("./reports//report.html")
    store.delete("reports/report.html")
    assert not store.exists("reports/report.html")
    store.delete("reports/report.html")  # deleting a missing key is fine


def test_keys_are_normalised(backend: Backend) -> None:
    info = backend.store.put_bytes(b"png", "./plots//./roc.png")
    assert info.path == "plots/roc.png"
    assert backend.listing() == ["plots/roc.png"]
    assert backend.store.get_bytes("plots/roc.png", info.sha256) == b"png"
    assert backend.store.get_bytes("./plots/roc.png", info.sha256) == b"png"


def test_uri_joins_the_root_and_the_normalised_key(store: ArtifactStore) -> None:
    assert store.uri("./plots//roc.png") == f"{store.url}/plots/roc.png"


def test_is_local(backend: Backend, request: pytest.FixtureRequest) -> None:
    assert backend.store.is_local is (request.node.callspec.params["backend"] == "local")


# -- failures ---------------------------------------------------------------------------


def test_missing_key_names_the_key(store: ArtifactStore) -> None:
    with pytest.raises(
        ArtifactNotFoundError,
        match=rf"^artifact 'runs/r1/model\.pkl' is missing from {re.escape(store.url)}; "
        r"it was indexed but its file is gone$",
    ):
        store.get_bytes("runs/r1/model.pkl", sha256(b""))


def test_missing_key_is_caught_as_key_error_and_file_not_found(store: ArtifactStore) -> None:
    with pytest.raises(KeyError, match="missing"):
        store.get_bytes("nope", sha256(b""))
    with pytest.raises(FileNotFoundError, match="missing"):
        store.get_bytes("nope", sha256(b""))
    with pytest.raises(NotFoundError, match="missing"):
        store.get_bytes("nope", sha256(b""))


def test_download_of_a_missing_key_leaves_nothing(store: ArtifactStore, downloads: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"^artifact 'gone\.bin' is missing"):
        store.download("gone.bin", downloads / "gone.bin", sha256(b""))
    assert files_in(downloads) == []


def test_corrupted_bytes_are_refused_on_read(backend: Backend) -> None:
    info = backend.store.put_bytes(b"the real weights", "model/weights.bin")
    backend.overwrite("model/weights.bin", b"tampered")
    with pytest.raises(
        CorruptedArtifactError,
        match=rf"^artifact 'model/weights\.bin' in {re.escape(backend.store.url)} is corrupted: "
        rf"its sha256 is {sha256(b'tampered')[:16]}\.\.\., but {info.sha256[:16]}\.\.\. "
        r"was recorded when it was written\. Restore it from a backup or log it again$",
    ):
        backend.store.get_bytes("model/weights.bin", info.sha256)


def test_corrupted_download_leaves_no_partial_file(backend: Backend, downloads: Path) -> None:
    info = backend.store.put_bytes(BIG, "model/weights.bin")
    # Flip the last byte: a fixed replacement would equal it once in 256 runs.
    backend.overwrite("model/weights.bin", BIG[:-1] + bytes([BIG[-1] ^ 0xFF]))
    dest = downloads / "weights.bin"
    with pytest.raises(CorruptedArtifactError, match=r"^artifact 'model/weights\.bin' in "):
        backend.store.download("model/weights.bin", dest, info.sha256)
    assert not dest.exists()
    assert files_in(downloads) == []


def test_corrupted_download_keeps_the_previous_file(backend: Backend, downloads: Path) -> None:
    info = backend.store.put_bytes(b"good", "a.txt")
    backend.overwrite("a.txt", b"bad")
    downloads.mkdir()
    (downloads / "a.txt").write_bytes(b"an earlier copy")
    with pytest.raises(CorruptedArtifactError, match="is corrupted"):
        backend.store.download("a.txt", downloads / "a.txt", info.sha256)
    assert files_in(downloads) == ["a.txt"]
    assert (downloads / "a.txt").read_bytes() == b"an earlier copy"


def test_put_file_of_a_missing_source_writes_nothing(backend: Backend, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.bin"
    with pytest.raises(
        InvalidInputError, match=rf"^cannot log {re.escape(repr(str(missing)))}: it is not a file$"
    ):
        backend.store.put_file(missing, "model.bin")
    assert backend.listing() == []


def test_put_file_of_a_folder_is_refused(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"it is not a file$"):
        backend.store.put_file(tmp_path, "model.bin")
    assert backend.listing() == []


# -- path validation --------------------------------------------------------------------

INVALID_PATHS = [
    pytest.param("", r"artifact path must be a non-empty string, got ''", id="empty"),
    pytest.param("   ", r"artifact path must be a non-empty string, got '   '", id="blank"),
    pytest.param(
        "../escape.txt", r"artifact path '\.\./escape\.txt' climbs out with '\.\.'", id="dotdot"
    ),
    pytest.param(
        "a/../../b", r"artifact path 'a/\.\./\.\./b' climbs out with '\.\.'", id="inner-dotdot"
    ),
    pytest.param("a/..", r"climbs out with '\.\.'; this is refused", id="trailing-dotdot"),
    pytest.param("/etc/passwd", r"artifact path '/etc/passwd' is absolute", id="absolute"),
    pytest.param("//server/share", r"is absolute; give a path inside the run", id="double-slash"),
    pytest.param("C:/Windows", r"artifact path 'C:/Windows' is absolute", id="drive-letter"),
    pytest.param(
        "plots\\roc.png",
        r"artifact path 'plots\\\\roc\.png' contains a NUL or backslash; use '/' between folders",
        id="backslash",
    ),
    pytest.param("a\x00b", r"contains a NUL or backslash", id="nul"),
    pytest.param(".", r"artifact path '\.' names no file", id="dot"),
    pytest.param("./", r"artifact path '\./' names no file", id="dot-slash"),
]


@pytest.mark.parametrize(("path", "message"), INVALID_PATHS)
def test_validate_refuses(path: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        validate_artifact_path(path)


def test_validate_refuses_a_non_string() -> None:
    with pytest.raises(InvalidInputError, match=r"must be a non-empty string, got None"):
        validate_artifact_path(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "normalised"),
    [
        pytest.param("model.pkl", "model.pkl", id="plain"),
        pytest.param("./model.pkl", "model.pkl", id="leading-dot-slash"),
        pytest.param("plots/./roc.png", "plots/roc.png", id="inner-dot"),
        pytest.param("plots//roc.png", "plots/roc.png", id="double-slash"),
        pytest.param("plots/", "plots", id="trailing-slash"),
        pytest.param("a/b/c.txt", "a/b/c.txt", id="nested"),
        pytest.param("..hidden/..x", "..hidden/..x", id="dots-inside-names"),
        pytest.param("with space/ü.txt", "with space/ü.txt", id="space-and-unicode"),
        pytest.param("a:b.txt", "a:b.txt", id="colon-is-not-a-drive"),
    ],
)
def test_validate_normalises(path: str, normalised: str) -> None:
    assert validate_artifact_path(path) == normalised


@pytest.mark.parametrize(("path", "message"), INVALID_PATHS[:7])
def test_store_refuses_invalid_paths_before_any_io(
    backend: Backend, downloads: Path, path: str, message: str
) -> None:
    store = backend.store
    calls: list[Callable[[], object]] = [
        lambda: store.put_bytes(b"x", path),
        lambda: store.get_bytes(path, sha256(b"x")),
        lambda: store.download(path, downloads / "x", sha256(b"x")),
        lambda: store.exists(path),
        lambda: store.delete(path),
        lambda: store.uri(path),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match=message):
            call()
    assert backend.listing() == []
    assert not downloads.exists()


# -- local folders: atomic writes, no I/O before the first write ------------------------


def test_constructor_does_no_io(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = ArtifactStore(str(root))
    assert not root.exists()
    assert not store.exists("model.pkl")
    assert not root.exists()  # reading does not create the folder either
    store.put_bytes(b"x", "model.pkl")
    assert files_in(root) == ["model.pkl"]


def test_trailing_slash_in_the_url_is_dropped(tmp_path: Path) -> None:
    store = ArtifactStore(f"{tmp_path}/artifacts/")
    assert store.url == f"{tmp_path}/artifacts"
    assert store.uri("a.txt") == f"{tmp_path}/artifacts/a.txt"


def test_file_url_is_a_local_store(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = ArtifactStore(root.as_uri())
    info = store.put_bytes(b"data", "a/b.txt")
    assert store.is_local
    assert (root / "a" / "b.txt").read_bytes() == b"data"
    assert store.get_bytes("a/b.txt", info.sha256) == b"data"
    assert files_in(root) == ["a/b.txt"]


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = ArtifactStore(str(root))
    source = tmp_path / "big.bin"
    source.write_bytes(BIG)
    store.put_file(source, "model/big.bin")
    store.put_bytes(b"1", "model/small.bin")
    store.put_bytes(b"2", "model/small.bin")
    assert files_in(root) == ["model/big.bin", "model/small.bin"]


def test_failed_local_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = ArtifactStore(str(root))
    store.put_bytes(b"inside", "plots/roc.png")
    # "plots" is a folder, so the final rename fails after the temporary file was written.
    with pytest.raises(
        StoreError, match=rf"^artifact store {re.escape(str(root))} failed on 'plots': "
    ):
        store.put_bytes(b"clash", "plots")
    assert files_in(root) == ["plots/roc.png"]


def test_key_below_an_existing_file_is_a_store_error(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = ArtifactStore(str(root))
    store.put_bytes(b"file", "model")
    with pytest.raises(StoreError, match=r"failed on 'model/weights\.bin': "):
        store.put_bytes(b"x", "model/weights.bin")
    assert files_in(root) == ["model"]


def test_failed_put_file_leaves_no_folder(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = ArtifactStore(str(root))
    with pytest.raises(InvalidInputError, match="it is not a file"):
        store.put_file(tmp_path / "missing.bin", "deep/down/missing.bin")
    assert not root.exists()


# -- URLs that cannot be used -----------------------------------------------------------


def test_unknown_protocol_is_a_config_error_on_first_use() -> None:
    store = ArtifactStore("nosuchproto://bucket/prefix")  # constructing does nothing
    with pytest.raises(
        ConfigError,
        match=r"^artifact URL 'nosuchproto://bucket/prefix' is not usable: .*nosuchproto",
    ):
        store.put_bytes(b"x", "a.txt")
    with pytest.raises(ConfigError, match="is not usable"):
        store.exists("a.txt")


def test_writing_to_a_missing_bucket_fails_and_creates_no_bucket(
    s3_endpoint: str, s3_session: AioSession, s3_client: Any
) -> None:
    store = ArtifactStore(
        "s3://no-such-bucket-here/prefix", storage_options=s3_options(s3_endpoint, s3_session)
    )
    with pytest.raises(
        StoreError, match=r"cannot write artifact 'model.pkl' to s3://no-such-bucket-here/prefix: "
    ):
        store.put_bytes(b"x", "model.pkl")
    buckets = {b["Name"] for b in s3_client.list_buckets()["Buckets"]}
    assert "no-such-bucket-here" not in buckets


def test_missing_protocol_package_names_what_to_install() -> None:
    store = ArtifactStore("gcs://bucket/path")  # gcsfs is not a dependency of any extra
    with pytest.raises(ConfigError, match=r"install the fsspec implementation for gcs://"):
        store.put_bytes(b"x", "a.txt")
