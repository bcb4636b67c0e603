"""Photos and documents of inspections against the real database and file store: checked by content
(backend/hazards/files.py, the same checks as hidden hazards), uploaded only by regulators of the
inspection's jurisdiction, served only to those who may see the inspection with a safe content type,
audited, and carried to the hidden hazard a finding becomes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.hazards import files
from backend.models import Enterprise, HazardFile, HiddenHazard, Inspector, Organisation, Site
from tests.support.hazards import PDF, PNG, XLSX, scoped_token


@dataclass
class Scene:
    site: str
    site_id: int
    region: str
    team: list[str]
    county: dict[str, str]  # headers of a regulator token of the site's county
    firm: dict[str, str]  # the site's own enterprise
    other: dict[str, str]  # a regulator of another county


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def scene(seeded: Engine, client: TestClient, tokens: dict[Role, str]) -> Iterator[Scene]:
    """A non-coal mine of a county with two inspectors free of conflicts, tokens for that county,
    the mine's enterprise and another county; the mine's hazards are removed afterwards."""
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:setup"
        row = s.execute(
            text("""
            SELECT s.id, s.code, s.region_adcode, s.enterprise_id, e.credit_code FROM sites s
            JOIN enterprises e ON e.id = s.enterprise_id
            WHERE s.kind = 'noncoal_mine' AND e.status = 'operating'
              AND (SELECT count(*) FROM inspectors i WHERE i.region_adcode = s.region_adcode
                   AND NOT e.credit_code = ANY(i.conflicts)) >= 2
            ORDER BY s.id LIMIT 1""")
        ).one()
        team = [
            i.certificate_no
            for i in s.scalars(
                select(Inspector).where(Inspector.region_adcode == row.region_adcode).order_by(Inspector.id)
            )
            if row.credit_code not in (i.conflicts or [])
        ][:2]
        org = s.scalar(select(Organisation.id).where(Organisation.code == row.region_adcode))
        firm_org = s.scalar(select(Organisation.id).where(Organisation.enterprise_id == row.enterprise_id))
        other_region = s.scalar(
            text(
                "SELECT code FROM organisations WHERE kind = 'bureau' AND length(code) = 6 AND code NOT LIKE '%00' AND code NOT LIKE :p"
            ),
            {"p": row.region_adcode[:4] + "%"},
        )
        other_org = s.scalar(select(Organisation.id).where(Organisation.code == other_region))
        scene = Scene(
            row.code,
            row.id,
            row.region_adcode,
            team,
            _auth(scoped_token(s, f"files-county-{row.code}", Role.regulator, org)),
            _auth(scoped_token(s, f"files-firm-{row.code}", Role.enterprise, firm_org)),
            _auth(scoped_token(s, f"files-other-{row.code}", Role.regulator, other_org)),
        )
    yield scene
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test"
        for h in s.scalars(select(HiddenHazard).where(HiddenHazard.site_id == scene.site_id)):
            s.delete(h)
        s.execute(text("DELETE FROM api_tokens WHERE name LIKE :n"), {"n": f"files-%-{scene.site}"})
    client.post("/api/v1/risk/regrade", headers=_auth(tokens[Role.operator]))


def _inspection(client: TestClient, scene: Scene, started: bool = True) -> int:
    r = client.post(
        "/api/v1/inspections",
        json={"site": scene.site, "day": "2026-11-24", "origin": "other", "inspectors": scene.team},
        headers=scene.county,
    )
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    if started:
        assert client.post(f"/api/v1/inspections/{iid}/start", headers=scene.county).status_code == 200
        found = {"findings": [{"title": "采空区未按设计充填", "major": False}]}
        assert client.post(f"/api/v1/inspections/{iid}/record", json=found, headers=scene.county).status_code == 200
    return iid


def _upload(
    client: TestClient, iid: int, headers: dict[str, str], data: bytes, name: str, finding: int | None = None
) -> httpx.Response:
    form = {} if finding is None else {"finding": str(finding)}
    return client.post(
        f"/api/v1/inspections/{iid}/files", files={"file": (name, data, "image/png")}, data=form, headers=headers
    )


def test_files_are_checked_by_content_served_safely_and_audited(
    client: TestClient, scene: Scene, tokens: dict[Role, str]
) -> None:
    planned = _inspection(client, scene, started=False)
    assert _upload(client, planned, scene.county, PNG, "a.png").status_code == 409  # not started: nothing to show
    iid = _inspection(client, scene)
    r = _upload(client, iid, scene.county, PNG, "../../采空区 照片.png", finding=0)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["content_type"] == "image/png" and photo["finding"] == 0 and photo["size"] == len(PNG)
    assert photo["name"] == "采空区 照片.png"  # no folder survives
    assert files.storage().get(photo["sha256"]) == PNG
    # the type comes from the bytes: a script named .png, an empty file, one over the limit are refused
    assert _upload(client, iid, scene.county, b"<script>alert(1)</script>", "x.png").status_code == 422
    assert _upload(client, iid, scene.county, b"", "x.png").status_code == 422
    too_big = PNG + b"\0" * files.MAX_FILE_BYTES
    r = _upload(client, iid, scene.county, too_big, "big.png")
    assert r.status_code == 422 and "MB" in r.text
    assert _upload(client, iid, scene.county, PNG, "x.png", finding=7).status_code == 422  # no such finding
    doc = client.post(
        f"/api/v1/inspections/{iid}/files",
        files={"file": ("现场检查记录.pdf", PDF, "image/png")},  # the client's type is ignored
        headers=scene.county,
    )
    assert doc.status_code == 201 and doc.json()["content_type"] == "application/pdf" and doc.json()["finding"] is None

    got = client.get(photo["url"], headers=scene.county)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in got.headers["content-security-policy"]
    pdf = client.get(doc.json()["url"], headers=scene.county)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E7%8E%B0" in pdf.headers["content-disposition"]  # 现场检查记录.pdf
    listed = client.get(f"/api/v1/inspections/{iid}/files", headers=scene.county).json()
    assert [f["id"] for f in listed] == [photo["id"], doc.json()["id"]]
    assert client.get(f"/api/v1/inspections/{planned}/files/{photo['id']}", headers=scene.county).status_code == 404

    audit = client.get(
        "/api/v1/audit", params={"entity": "inspections", "key": str(iid)}, headers=_auth(tokens[Role.admin])
    ).json()
    added = [a for a in audit if a["action"] == "file_added"]
    assert {a["after"]["sha256"] for a in added} == {photo["sha256"], doc.json()["sha256"]}
    assert {a["actor"] for a in added} == {f"token:files-county-{scene.site}"}


def test_only_the_jurisdictions_regulators_upload_and_only_those_who_see_the_inspection_download(
    client: TestClient, scene: Scene, anonymous: TestClient
) -> None:
    iid = _inspection(client, scene)
    photo = _upload(client, iid, scene.county, PNG, "p.png", finding=0).json()
    # the site's own enterprise reads its inspection, but records nothing in it
    assert _upload(client, iid, scene.firm, PNG, "mine.png").status_code == 403
    assert client.get(photo["url"], headers=scene.firm).status_code == 200
    # another county: the inspection does not exist for it, nor its files
    assert _upload(client, iid, scene.other, PNG, "x.png").status_code == 404
    assert client.get(photo["url"], headers=scene.other).status_code == 404
    assert client.get(f"/api/v1/inspections/{iid}/files", headers=scene.other).status_code == 404
    assert anonymous.get(photo["url"]).status_code == 401
    assert anonymous.post(f"/api/v1/inspections/{iid}/files", files={"file": ("p.png", PNG)}).status_code == 401


def test_a_findings_photos_go_with_it_to_the_hidden_hazard(
    client: TestClient, scene: Scene, seeded: Engine, tokens: dict[Role, str]
) -> None:
    iid = _inspection(client, scene)
    first = _upload(client, iid, scene.county, PNG, "采空区.png", finding=0).json()
    general = client.post(
        f"/api/v1/inspections/{iid}/files", files={"file": ("记录.pdf", PDF)}, headers=scene.county
    ).json()
    r = client.post(f"/api/v1/inspections/{iid}/findings/0/hazard", headers=scene.county)
    assert r.status_code == 200, r.text
    hazard_id = r.json()["hazard_id"]
    hazard = client.get(f"/api/v1/hidden-hazards/{hazard_id}", headers=scene.county).json()
    assert [(f["sha256"], f["name"], f["content_type"]) for f in hazard["files"]] == [
        (first["sha256"], "采空区.png", "image/png")
    ]  # the finding's photo, not the inspection's general document
    carried = client.get(hazard["files"][0]["url"], headers=scene.county)
    assert carried.status_code == 200 and carried.content == PNG
    # a photo added to the finding afterwards reaches the hazard too
    later = _upload(client, iid, scene.county, XLSX, "整改通知.xlsx", finding=0).json()
    hazard = client.get(f"/api/v1/hidden-hazards/{hazard_id}", headers=scene.county).json()
    assert [f["sha256"] for f in hazard["files"]] == [first["sha256"], later["sha256"]]
    assert general["sha256"] not in {f["sha256"] for f in hazard["files"]}
    with Session(seeded) as s:  # linked, not copied: one stored file per content
        rows = s.scalars(select(HazardFile).where(HazardFile.hazard_id == hazard_id)).all()
        assert {f.uploaded_by for f in rows} == {f"token:files-county-{scene.site}"}
        assert s.scalar(select(Site.code).join(Enterprise).where(Site.id == rows[0].site_id)) == scene.site
    audit = client.get(
        "/api/v1/audit", params={"entity": "hidden_hazards", "key": str(hazard_id)}, headers=_auth(tokens[Role.admin])
    ).json()
    assert sorted(a["after"]["sha256"] for a in audit if a["action"] == "file_added") == sorted(
        [first["sha256"], later["sha256"]]
    )
    moved = client.get(
        "/api/v1/audit", params={"entity": "inspections", "key": str(iid)}, headers=_auth(tokens[Role.admin])
    ).json()
    to_hazard = next(a for a in moved if a["action"] == "to_hazard")
    assert to_hazard["after"]["hazard"] == hazard_id and len(to_hazard["after"]["files"]) == 1
