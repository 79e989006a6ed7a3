"""The `/analytics` page: access control, the numbers an informatics team reads, no external
assets, and (in headless Chromium) charts that are actually drawn."""

from __future__ import annotations

import base64
import io
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.fhir import draft, hook_request
from tests.support.storage import SECRET, database_url  # noqa: F401

SIGN = "muscle-spasm-order-sign"
ADMIN = "admin-token-for-tests-0123456789"
NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
CHROMIUM = "/usr/bin/chromium"


def _app(url: str, **kw: Any) -> Any:
    kw.setdefault("dev", False)
    return create_app(load_settings(database_url=url, patient_hash_secret=SECRET, admin_token=ADMIN, **kw))


def _override_one_card(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = hook_request("order-sign", drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)])
    cards = client.post(f"/cds-services/{SIGN}", json=request, headers=headers).json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "baclofen-titration")
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": {"code": "specialist-directed", "system": card["overrideReasons"][0]["system"]}},
        "outcomeTimestamp": NOW,
    }
    response = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [item]}, headers=headers)
    assert response.status_code == 200, response.text
    return card


@pytest.fixture
def dev_client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:  # noqa: F811
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(_app(database_url, dev=True)) as client:
        yield client


def test_page_shows_a_clinicians_override_with_its_reason(dev_client: TestClient) -> None:
    card = _override_one_card(dev_client)
    display = next(r["display"] for r in card["overrideReasons"] if r["code"] == "specialist-directed")
    response = dev_client.get("/analytics")
    assert response.status_code == 200
    page = response.text
    assert re.search(r'id="total-overridden">1<', page)
    assert re.search(r'id="total-shown">\d+<', page)
    row = next(r for r in page.split("<tr>") if "baclofen-titration" in r and SIGN in r)
    assert f"{display} (1)" in row
    assert '<img id="chart-topics" src="data:image/svg+xml;base64,' in page


def test_page_loads_nothing_from_elsewhere(dev_client: TestClient) -> None:
    response = dev_client.get("/analytics")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//', response.text)


def test_access_needs_admin_token_or_client_auth(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(_app(database_url)) as client:
        anonymous = client.get("/analytics")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Basic")  # a browser can prompt
        assert client.get("/analytics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/analytics", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
        basic = base64.b64encode(f"informatics:{ADMIN}".encode()).decode()
        assert client.get("/analytics", headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_bad_since_is_400(dev_client: TestClient) -> None:
    response = dev_client.get("/analytics", params={"since": "last week"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.text


def test_empty_period_renders_without_error(dev_client: TestClient) -> None:
    response = dev_client.get("/analytics", params={"since": "2999-01-01"})
    assert response.status_code == 200
    assert "No cards were shown in this period" in response.text


# ---------------------------------------------------------------------------- headless Chromium


def _drawn_fraction(png: bytes) -> float:
    """Share of pixels that are not (near-)white background."""
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")[..., :3]
    ink = (pixels < 0.85).any(axis=-1)
    return float(ink.mean())


def _coloured_pixels(png: bytes, rgb: tuple[int, int, int]) -> int:
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")[..., :3] * 255
    distance = abs(pixels - rgb).sum(axis=-1)
    return int((distance < 40).sum())


@pytest.mark.browser
def test_charts_are_drawn_in_headless_chromium(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) not installed")
    import threading

    import uvicorn

    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    url = f"sqlite:///{tmp_path}/audit.db"
    with TestClient(_app(url, dev=True)) as seeding:  # another instance on the same database
        _override_one_card(seeding)
    app = _app(url)  # authentication on: the browser gives the admin token through HTTP Basic
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                pytest.fail("uvicorn did not start")
            threading.Event().wait(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            context = browser.new_context(http_credentials={"username": "informatics", "password": ADMIN})
            page = context.new_page()
            external: list[str] = []
            page.on(
                "request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:")) else external.append(r.url)
            )
            response = page.goto(f"http://127.0.0.1:{port}/analytics")
            assert response is not None and response.status == 200
            assert page.locator("#total-overridden").inner_text() == "1"
            for chart_id in ("chart-topics", "chart-daily"):
                chart = page.locator(f"#{chart_id}")
                assert chart.evaluate("img => img.complete && img.naturalWidth > 0"), f"{chart_id} did not load"
                box = chart.bounding_box()
                assert box and box["width"] > 300 and box["height"] > 100
                shot = chart.screenshot(path=str(tmp_path / f"{chart_id}.png"))
                assert _drawn_fraction(shot) > 0.02, f"{chart_id} looks blank"
            topics_png = (tmp_path / "chart-topics.png").read_bytes()
            assert _coloured_pixels(topics_png, (0xC6, 0x28, 0x28)) > 50  # the overridden (red) bar segment
            page.screenshot(path=str(tmp_path / "analytics.png"), full_page=True)
            browser.close()
        assert external == []
    finally:
        server.should_exit = True
        thread.join(timeout=10)
