"""Hidden-hazard files in both stores: the storage contract run against LocalStorage and S3Storage,
the settings that choose them, and the upload/download API end to end with either backend.

The S3 side talks HTTP to an S3 endpoint on a loopback port that the tests start: moto's server mode
(ThreadedMotoServer), through the same boto3 client the platform uses. No MinIO, Garage or other S3
server is packaged for Debian 12, PyPI or npm here (Debian's radosgw needs a whole Ceph cluster), so
moto's server is the endpoint. It speaks the S3 REST protocol but does not check Content-MD5 or
x-amz-checksum-sha256 itself: that a store refuses altered bytes is S3's part and is not exercised
here; that the platform sends the content address as the object's SHA-256 checksum, and that the
store keeps it, is.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from pydantic import ValidationError
from sqlalchemy import Engine, String, func, select, text
from sqlalchemy.orm import Session

from backend.core.config import FileStorageSettings, paths
from backend.core.principal import Role
from backend.domain.errors import NotFound
from backend.hazards import files
from backend.hazards.files import LocalStorage, S3Storage, StorageUnavailable, StoredFileMissing
from backend.models import AuditEntry, HazardFile
from tests.support.hazards import PDF, scoped_token
from tests.support.net import free_port

BUCKET = "riskmap-hazard-files"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on a free loopback port (moto's server), with the test bucket."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    conf = FileStorageSettings(
        files_backend="s3", s3_endpoint_url=endpoint, s3_bucket=BUCKET, s3_access_key_id="k", s3_secret_access_key="s"
    )
    S3Storage(conf).client.create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def _s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, **extra: str) -> None:
    """Configure the platform for the object store, as an operator would (environment variables)."""
    env = {
        "RISKMAP_FILES_BACKEND": "s3",
        "RISKMAP_S3_ENDPOINT_URL": endpoint,
        "RISKMAP_S3_BUCKET": BUCKET,
        "RISKMAP_S3_PREFIX": "hazard-files",
        "RISKMAP_S3_REGION": "cn-northeast-1",
        "RISKMAP_S3_ACCESS_KEY_ID": "riskmap",
        "RISKMAP_S3_SECRET_ACCESS_KEY": "not-a-real-secret",
        "RISKMAP_S3_ADDRESSING_STYLE": "path",
        **extra,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings changed by the test apply from the next `files.storage()`, and are gone after it."""
    files.storage.cache_clear()
    yield monkeypatch
    files.storage.cache_clear()  # monkeypatch restores the environment after this fixture's end


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, configured: pytest.MonkeyPatch) -> files.Storage:
    """Each backend as `files.storage()` makes it from the settings."""
    if request.param == "s3":
        _s3_env(configured, request.getfixturevalue("s3_endpoint"))
    else:
        configured.setenv("RISKMAP_FILES_BACKEND", "local")
    made = files.storage()
    assert type(made).__name__ == {"local": "LocalStorage", "s3": "S3Storage"}[request.param]
    if isinstance(made, LocalStorage):
        made = LocalStorage(tmp_path / "files")  # a fresh folder: nothing left by other tests
    return made


def _content() -> tuple[str, bytes]:
    data = os.urandom(2048)
    return hashlib.sha256(data).hexdigest(), data


class Writes:
    """Counts the writes a store makes: PUT requests to S3, new files (inodes) on disk."""

    def __init__(self, store: files.Storage, digest: str) -> None:
        self.store, self.digest, self.puts = store, digest, 0
        if isinstance(store, S3Storage):
            store.client.meta.events.register("before-send.s3.PutObject", self._count)

    def _count(self, **_: Any) -> None:
        self.puts += 1

    def identity(self) -> Any:
        if isinstance(self.store, LocalStorage):
            return (self.store.root / self.digest[:2] / self.digest).stat().st_ino
        return self.puts


# --- the contract, for both backends ------------------------------------------------------------


def test_put_then_get_and_exists(store: files.Storage) -> None:
    digest, data = _content()
    assert not store.exists(digest)
    store.put(digest, data)
    assert store.exists(digest)
    assert store.get(digest) == data


def test_put_is_idempotent_and_writes_once(store: files.Storage) -> None:
    digest, data = _content()
    writes = Writes(store, digest)
    store.put(digest, data)
    first = writes.identity()
    store.put(digest, data)
    store.put(digest, data)
    assert writes.identity() == first  # the second and third puts found it and wrote nothing
    if isinstance(store, S3Storage):
        assert writes.puts == 1
    assert store.get(digest) == data


def test_a_missing_digest_is_not_found(store: files.Storage) -> None:
    digest, _ = _content()
    assert not store.exists(digest)
    with pytest.raises(StoredFileMissing) as missing:
        store.get(digest)
    assert isinstance(missing.value, NotFound)  # one behaviour for both: the API answers 404


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "../" * 21 + "a", "0" * 63, "0" * 65])
def test_an_invalid_digest_is_refused_before_any_io(store: files.Storage, bad: str) -> None:
    for call in (lambda: store.put(bad, b"x"), lambda: store.get(bad), lambda: store.exists(bad)):
        with pytest.raises(ValueError, match="SHA-256"):
            call()


def test_bytes_that_are_not_the_digest_are_refused(store: files.Storage) -> None:
    digest, _ = _content()
    with pytest.raises(ValueError, match="do not hash"):
        store.put(digest, b"other bytes")
    assert not store.exists(digest)


# --- the S3 backend's own promises --------------------------------------------------------------


def test_s3_keys_are_prefix_fan_out_digest_and_carry_the_sha256_checksum(
    s3_endpoint: str, configured: pytest.MonkeyPatch
) -> None:
    _s3_env(configured, s3_endpoint, RISKMAP_S3_PREFIX="/jilin/hazards/")
    store = files.storage()
    assert isinstance(store, S3Storage)
    digest, data = _content()
    store.put(digest, data)
    listed = store.client.list_objects_v2(Bucket=BUCKET, Prefix=f"jilin/hazards/{digest[:2]}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"jilin/hazards/{digest[:2]}/{digest}"]
    head = store.client.head_object(Bucket=BUCKET, Key=store.key(digest), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()  # the content address
    assert head["ETag"].strip('"') == hashlib.md5(data).hexdigest()  # Content-MD5 went with it

    configured.setenv("RISKMAP_S3_PREFIX", "")
    files.storage.cache_clear()
    root = files.storage()
    assert isinstance(root, S3Storage) and root.key(digest) == f"{digest[:2]}/{digest}"


def test_s3_unreachable_is_unavailable_never_a_silent_success(configured: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    _s3_env(configured, closed, RISKMAP_S3_MAX_ATTEMPTS="2", RISKMAP_S3_CONNECT_TIMEOUT_S="1")
    store = files.storage()
    digest, data = _content()
    for call in (lambda: store.put(digest, data), lambda: store.get(digest), lambda: store.exists(digest)):
        with pytest.raises(StorageUnavailable, match="对象存储"):
            call()


def test_s3_a_missing_bucket_is_unavailable(s3_endpoint: str, configured: pytest.MonkeyPatch) -> None:
    _s3_env(configured, s3_endpoint, RISKMAP_S3_BUCKET="riskmap-no-such-bucket")
    store = files.storage()
    digest, data = _content()
    with pytest.raises(StorageUnavailable):
        store.put(digest, data)
    with pytest.raises(StorageUnavailable):
        store.get(digest)


# --- settings -----------------------------------------------------------------------------------


def test_settings_default_to_local_files_under_the_data_folder(configured: pytest.MonkeyPatch) -> None:
    configured.delenv("RISKMAP_FILES_BACKEND", raising=False)
    assert FileStorageSettings().files_backend == "local"
    made = files.storage()
    assert isinstance(made, LocalStorage) and made.root.name == "files"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "RISKMAP_S3_BUCKET"),
        ({"RISKMAP_S3_BUCKET": "b-1", "RISKMAP_S3_ACCESS_KEY_ID": "k"}, "RISKMAP_S3_SECRET_ACCESS_KEY"),
        ({"RISKMAP_S3_BUCKET": "b-1", "RISKMAP_S3_SECRET_ACCESS_KEY": "s"}, "RISKMAP_S3_ACCESS_KEY_ID"),
        ({"RISKMAP_S3_BUCKET": "b-1", "RISKMAP_S3_ENDPOINT_URL": "oss.example.gov.cn"}, "RISKMAP_S3_ENDPOINT_URL"),
        ({"RISKMAP_S3_BUCKET": "b-1", "RISKMAP_S3_ADDRESSING_STYLE": "sideways"}, "addressing_style"),
    ],
)
def test_an_incomplete_s3_configuration_stops_the_app_start(
    configured: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    from backend.api.main import create_app

    for k in [k for k in os.environ if k.startswith("RISKMAP_S3_")]:
        configured.delenv(k)
    configured.setenv("RISKMAP_FILES_BACKEND", "s3")
    for k, v in env.items():
        configured.setenv(k, v)
    with pytest.raises(ValidationError, match=named):
        create_app()


def test_the_secret_key_never_shows(s3_endpoint: str, configured: pytest.MonkeyPatch) -> None:
    _s3_env(configured, s3_endpoint)
    conf = FileStorageSettings()
    assert "not-a-real-secret" not in repr(conf) and "not-a-real-secret" not in str(conf.model_dump())
    assert conf.s3_secret_access_key is not None and conf.s3_secret_access_key.get_secret_value() == "not-a-real-secret"


# --- the API, end to end ------------------------------------------------------------------------


@dataclass(frozen=True)
class Actors:
    site: str
    own: dict[str, str]
    county: dict[str, str]
    other: dict[str, str]


@pytest.fixture(scope="module")
def actors(seeded: Engine) -> Actors:
    """An enterprise, its county bureau and another county's bureau, by tokens; a site of the
    enterprise (near the last hazchem sites: the other hazard tests take theirs from the first; its
    一般 hazards without a deadline change no site's level)."""
    with Session(seeded) as session, session.begin():
        session.info["actor"] = "test:setup"
        code, eorg, corg, other = session.execute(
            text("""
            SELECT s.code,
                   (SELECT id FROM organisations o WHERE o.enterprise_id = s.enterprise_id),
                   (SELECT id FROM organisations o WHERE o.kind = 'bureau' AND o.code = s.region_adcode),
                   (SELECT id FROM organisations o WHERE o.kind = 'bureau' AND o.code NOT LIKE '%00'
                      AND o.code NOT LIKE substr(s.region_adcode, 1, 4) || '%' ORDER BY o.id LIMIT 1)
            FROM sites s JOIN enterprises e ON e.id = s.enterprise_id
            WHERE s.kind = 'hazchem' AND e.status = 'operating'
              AND EXISTS (SELECT 1 FROM organisations o WHERE o.enterprise_id = s.enterprise_id)
            ORDER BY s.id DESC OFFSET 2 LIMIT 1""")
        ).one()

        def auth(name: str, role: Role, org: int) -> dict[str, str]:
            return {"Authorization": f"Bearer {scoped_token(session, name, role, org)}"}

        return Actors(
            code,
            auth("fs-enterprise", Role.enterprise, eorg),
            auth("fs-county", Role.regulator, corg),
            auth("fs-other", Role.regulator, other),
        )


def _unique_pdf() -> bytes:
    """A small real PDF whose bytes no other test uploads (so its digest is new to every store)."""
    return PDF.replace(b"%%EOF", b"%" + os.urandom(8).hex().encode() + b"\n%%EOF")


def _hazard(client: TestClient, actors: Actors, title: str) -> int:
    r = client.post("/api/v1/hidden-hazards", json={"site": actors.site, "title": title}, headers=actors.own)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _rows(engine: Engine, hazard_id: int) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(HazardFile).where(HazardFile.hazard_id == hazard_id)) or 0)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_http_upload_and_download_through_the_configured_store(
    request: pytest.FixtureRequest,
    client: TestClient,
    actors: Actors,
    configured: pytest.MonkeyPatch,
    backend: str,
) -> None:
    if backend == "s3":
        _s3_env(configured, request.getfixturevalue("s3_endpoint"))
    else:
        configured.setenv("RISKMAP_FILES_BACKEND", "local")
    hid = _hazard(client, actors, f"附件存储测试（{backend}）：储罐区围堰破损")
    pdf = _unique_pdf()
    digest = hashlib.sha256(pdf).hexdigest()
    r = client.post(
        f"/api/v1/hidden-hazards/{hid}/files",
        files={"file": ("整改前照片.pdf", pdf, "application/octet-stream")},
        headers=actors.own,
    )
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert r.json()["sha256"] == digest and r.json()["content_type"] == "application/pdf"

    store = files.storage()
    local_copy = LocalStorage(paths().data_dir / "files")
    if backend == "s3":
        assert isinstance(store, S3Storage)
        head = store.client.head_object(Bucket=BUCKET, Key=f"hazard-files/{digest[:2]}/{digest}")
        assert head["ContentLength"] == len(pdf)
        assert not local_copy.exists(digest)  # in the bucket, not under the data folder
    else:
        assert isinstance(store, LocalStorage) and local_copy.get(digest) == pdf

    url = f"/api/v1/hidden-hazards/{hid}/files/{fid}"
    got = client.get(url, headers=actors.county)
    assert got.status_code == 200 and got.content == pdf and got.headers["content-type"] == "application/pdf"
    assert client.get(url, headers=actors.other).status_code == 404  # another county's bureau never sees it

    # The bytes are lost behind the platform's back (an operator cleaned the bucket or the folder):
    # the download says so with a 404, never a 500.
    if isinstance(store, S3Storage):
        store.client.delete_object(Bucket=BUCKET, Key=store.key(digest))
    else:
        (local_copy.root / digest[:2] / digest).unlink()
    lost = client.get(url, headers=actors.county)
    assert lost.status_code == 404 and "附件内容缺失" in lost.json()["detail"]


def test_http_an_unreachable_store_answers_503_and_records_nothing(
    seeded: Engine, client: TestClient, actors: Actors, s3_endpoint: str, configured: pytest.MonkeyPatch
) -> None:
    _s3_env(configured, s3_endpoint)
    hid = _hazard(client, actors, "附件存储测试：对象存储中断")
    kept = client.post(
        f"/api/v1/hidden-hazards/{hid}/files",
        files={"file": ("a.pdf", _unique_pdf(), "application/pdf")},
        headers=actors.own,
    )
    assert kept.status_code == 201, kept.text
    before = _rows(seeded, hid)

    _s3_env(
        configured, f"http://127.0.0.1:{free_port()}", RISKMAP_S3_MAX_ATTEMPTS="2", RISKMAP_S3_CONNECT_TIMEOUT_S="1"
    )
    files.storage.cache_clear()
    pdf = _unique_pdf()
    r = client.post(
        f"/api/v1/hidden-hazards/{hid}/files", files={"file": ("b.pdf", pdf, "application/pdf")}, headers=actors.own
    )
    assert r.status_code == 503 and "对象存储" in r.json()["detail"] and r.headers["retry-after"]
    assert _rows(seeded, hid) == before  # no row names bytes that were not stored
    with Session(seeded) as s:  # nor an audit entry of an attachment that does not exist
        digest = hashlib.sha256(pdf).hexdigest()
        assert s.scalar(select(func.count()).where(AuditEntry.after.cast(String).contains(digest))) == 0

    down = client.get(f"/api/v1/hidden-hazards/{hid}/files/{kept.json()['id']}", headers=actors.county)
    assert down.status_code == 503 and "对象存储" in down.json()["detail"]
    # a domain refusal like the others, so a page shows its form again with the reason (503)
    from backend.api.errors import status_of

    assert status_of(files.StorageUnavailable("对象存储暂时无法访问")) == 503
