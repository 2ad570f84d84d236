"""Store locations: URIs keep their options when paths are joined, credentials come from
the environment or `secret://` references and never from the text, and the store works
on a real S3-compatible server (moto's, in this process: no Ray)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lifecycle.execute.contract import open_source
from lifecycle.execute.digest import digest_source
from lifecycle.store import Journal, Store, read_journal
from lifecycle.store import fs as locations

S3 = "s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http"


def test_paths_join_before_a_uris_options() -> None:
    assert locations.join(S3, "ray", "x") == \
        "s3://bucket/runs/ray/x?endpoint_override=127.0.0.1:9000&scheme=http"
    assert Store(S3).uri_of("reports", "app") == \
        "s3://bucket/runs/reports/app?endpoint_override=127.0.0.1:9000&scheme=http"
    assert Store("/tmp/s").uri_of("ray") == "/tmp/s/ray"


def test_secret_references_resolve_from_the_environment_or_the_secrets_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_KEY", "from-env")
    assert locations.resolve_secret("secret://S3_KEY") == "from-env"
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "s3-secret").write_text("from-file\n")
    monkeypatch.setenv(locations.SECRETS_DIR_ENV, str(tmp_path))
    assert locations.resolve_secret("secret://team/s3-secret") == "from-file"


def test_an_unresolved_secret_names_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_THERE", raising=False)
    with pytest.raises(locations.SecretNotFound, match=r"set the environment variable "
                       r"NOT_THERE or write it to \$LIFECYCLE_SECRETS_DIR/NOT_THERE"):
        locations.resolve_secret("secret://NOT_THERE")


@pytest.mark.parametrize("location, found", [
    ("s3://b/p?access_key=AKIAXXXX&secret_key=abc", ["access_key=", "secret_key="]),
    ("s3://user:pw@b/p", ["user:password@ in the address"]),
    ("s3://b/p?access_key=secret://K&secret_key=secret://S", []),
    ("s3://b/p?endpoint_override=h:1&scheme=http", []),
    ("/local/path", []),
])
def test_plain_text_credentials_in_a_location_are_found(location: str,
                                                        found: list[str]) -> None:
    assert locations.inline_credentials(location) == found


def test_a_store_with_a_plain_text_credential_is_refused_without_echoing_it() -> None:
    with pytest.raises(locations.InlineCredentials) as err:
        Store("s3://b/p?secret_key=hunter2").list_dir("runs")
    assert "hunter2" not in str(err.value)
    assert "secret://" in str(err.value)
    assert locations.redacted("s3://b/p?secret_key=hunter2&scheme=http") == \
        "s3://b/p?secret_key=***&scheme=http"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"b{abs(hash(monkeypatch)) % 10**8}"
    boto3.client("s3", endpoint_url=f"http://{s3_server}").create_bucket(Bucket=name)
    return f"s3://{name}/lc?endpoint_override={s3_server}&scheme=http"


def test_store_and_journal_on_an_s3_server(bucket: str, tmp_path: Path) -> None:
    store = Store(bucket)
    assert not store.is_local
    journal = Journal(store, "r1")
    journal.append("run_started", spec="x")
    journal.append("stage_started", stage="data")
    assert [e["event"] for e in read_journal(store, "r1")] == ["run_started", "stage_started"]
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "model.pt").write_bytes(b"weights")
    store.upload_dir(str(tmp_path / "ck"), "ray/ck")
    path, filesystem = store.ray_storage("ray")
    assert filesystem is not None and path.endswith("/lc/ray")
    local = store.download(store.path("ray/ck"))
    assert (Path(local) / "model.pt").read_bytes() == b"weights"


def test_credentials_by_reference_reach_s3(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_S3_KEY", "testing-key")
    monkeypatch.setenv("TEAM_S3_SECRET", "testing-secret")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = Store(bucket + "&access_key=secret://TEAM_S3_KEY&secret_key=secret://TEAM_S3_SECRET")
    store.write_json("x.json", {"a": 1})
    assert store.read_json("x.json") == {"a": 1}


def test_rays_storage_filesystem_pickles_the_reference_never_the_key(
        bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray pickles the run config's filesystem (Tune into the store itself, tuner.pkl):
    pyarrow's S3 filesystem would carry the resolved keys; the store's carries only its
    location, and opens the store again where it is unpickled."""
    import pickle

    import pyarrow.fs as pafs

    monkeypatch.setenv("TEAM_S3_KEY", "testing-key")
    monkeypatch.setenv("TEAM_S3_SECRET", "testing-secret")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = Store(bucket + "&access_key=secret://TEAM_S3_KEY&secret_key=secret://TEAM_S3_SECRET")
    path, filesystem = store.ray_storage("ray")
    assert filesystem is not None
    with filesystem.open_output_stream(f"{path}/ck/model.pt") as out:  # used before pickling
        out.write(b"weights")
    blob = pickle.dumps(filesystem)
    assert b"testing-secret" not in blob and b"testing-key" not in blob
    assert b"secret://TEAM_S3_SECRET" in blob
    again = pickle.loads(blob)
    with again.open_input_stream(f"{path}/ck/model.pt") as f:
        assert f.read() == b"weights"
    [info] = again.get_file_info(pafs.FileSelector(f"{path}/ck"))
    assert info.size == 7
    assert b"testing-secret" in pickle.dumps(locations.filesystem(store.uri)[0])  # the risk


def test_the_by_reference_filesystem_writes_and_reads_bytes_as_they_are(tmp_path: Path) -> None:
    """Through PyFileSystem, a `.gz` name is compressed once (by the wrapper) and read back
    once: the inner filesystem adds no second layer, so other readers see one."""
    import gzip
    import pickle

    fs = pickle.loads(pickle.dumps(locations.by_reference(str(tmp_path))))
    with fs.open_output_stream(f"{tmp_path}/ck.gz") as out:
        out.write(b"weights")
    assert gzip.decompress((tmp_path / "ck.gz").read_bytes()) == b"weights"
    (tmp_path / "raw.gz").write_bytes(gzip.compress(b"other"))
    with fs.open_input_stream(f"{tmp_path}/raw.gz") as f:
        assert f.read() == b"other"
    with fs.open_input_stream(f"{tmp_path}/raw.gz", compression=None) as f:
        assert gzip.decompress(f.read()) == b"other"
    assert fs.type_name.endswith("lifecycle+local")


def test_an_s3_source_is_digested_by_its_etags_without_reading_it(
        bucket: str, tmp_path: Path) -> None:
    table = pa.table({"amount": [1.0, 2.0], "y": [0, 1]})
    store = Store(bucket)
    pq.write_table(table, tmp_path / "a.parquet")
    store.upload_dir(str(tmp_path), "data")
    source = locations.join(bucket, "data", "a.parquet")

    def never(*_: object) -> str:
        raise AssertionError("an S3 source with ETags is not read")

    first = digest_source(open_source({"path": source}, "/"), source, never)
    assert first.kind == "s3-etag"
    pq.write_table(pa.table({"amount": [1.0, 2.5], "y": [0, 1]}), tmp_path / "a.parquet")
    store.upload_dir(str(tmp_path), "data")
    assert digest_source(open_source({"path": source}, "/"), source, never).value != \
        first.value
