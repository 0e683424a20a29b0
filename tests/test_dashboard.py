"""The dashboard in a real headless Chromium (Debian's `chromium`; `bash .ci/install-browser.sh`):
the health table and the export-history chart, with the broken export marked, render from a
catalog built by a real run. The browser logs in the way a person does: `/?token=` once."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.test_service import BROKEN, GOOD, TOKEN, Env, Served, build_env, serve
from verifier.service.app import create_app

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium() -> str:
    for c in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if c and os.access(c, os.X_OK):
            return c
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; run `bash .ci/install-browser.sh`")
    pytest.skip("chromium is not installed (bash .ci/install-browser.sh); set CI to make this a failure")


class Dom(HTMLParser):
    """The elements of a dumped DOM as (tag, attributes), plus the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None, **attrs: str) -> list[dict[str, str]]:
        out = []
        for t, a in self.elements:
            if t != tag or (cls and cls not in a.get("class", "").split()):
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(a)
        return out


@pytest.fixture(scope="module")
def browser() -> str:
    return chromium()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return build_env(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def site(env: Env) -> Iterator[Served]:
    with serve(create_app(env.config, start_scheduler=False)) as s:
        yield s


def render(browser: str, url: str, profile: Path) -> Dom:
    """What Chromium shows at `url`: the DOM after redirects, cookies and parsing."""
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<html" in proc.stdout, proc.stderr[-2000:]
    return Dom(proc.stdout)


def test_health_table(browser: str, site: Served, tmp_path: Path) -> None:
    dom = render(browser, f"{site.url}/?token={quote(TOKEN)}", tmp_path / "profile")
    rows = dom.find("tr", "dataset")
    assert {(r["data-dataset"], r["data-destination"], r["data-health"]) for r in rows} == {
        (GOOD, "main", "ok"),
        (BROKEN, "main", "failing"),
    }
    assert dom.find("tr", "health-failing", data_dataset=BROKEN)
    assert dom.find("span", "badge") and dom.find("table", id="run-findings")
    text = " ".join(dom.text)
    assert "parquet.corrupt" in text  # the last run's findings
    assert "100%" in text  # full-read coverage after a full run
    assert dom.find("a", href=f"/datasets/{BROKEN}")
    assert dom.find("form", "restore", action="/restore")


def test_history_chart_marks_the_broken_export(browser: str, site: Served, env: Env, tmp_path: Path) -> None:
    dom = render(browser, f"{site.url}/datasets/{BROKEN}?token={quote(TOKEN)}", tmp_path / "profile")
    assert dom.find("svg", "history")
    bars = dom.find("rect", "bar")
    assert len(bars) == 5
    broken_time = (env.start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    broken = dom.find("rect", "broken")
    assert [b["data-export-time"] for b in broken] == [broken_time]
    assert broken[0]["data-status"] == "failed"
    assert broken[0]["fill"] == "#d32f2f"
    assert [m["data-export-time"] for m in dom.find("path", "broken-mark")] == [broken_time]
    assert {b["data-status"] for b in bars if b is not broken[0]} == {"ok"}
    assert len(dom.find("circle", "dot")) == 4  # record counts from the full read; unknown for the corrupt one
    assert len(dom.find("tr", "export-broken")) == 1
    assert "parquet.corrupt" in " ".join(dom.text)
    # what is open now, from the open_findings view, with the run that first found it
    assert [(f["data-code"], f["data-first-run"]) for f in dom.find("tr", "finding")] == [
        ("restore.chain_broken", "1"),
        ("parquet.corrupt", "1"),
    ]


def test_restore_form_renders_a_plan(browser: str, site: Served, env: Env, tmp_path: Path) -> None:
    as_of = (env.start + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    url = f"{site.url}/restore?dataset_id={BROKEN}&as_of={quote(as_of)}&token={quote(TOKEN)}"
    dom = render(browser, url, tmp_path / "profile")
    if dom.find("p", id="plan-error") and "not available" in " ".join(dom.text):
        pytest.skip("verifier.restore.plan is not in this build")
    assert dom.find("div", id="plan")
    assert len(dom.find("tr", "export-broken")) == 0
    assert "intact" in " ".join(dom.text)


def test_without_the_token_the_browser_sees_nothing(browser: str, site: Served, tmp_path: Path) -> None:
    dom = render(browser, f"{site.url}/datasets/{BROKEN}", tmp_path / "profile")
    assert not dom.find("svg", "history")
    assert "authentication required" in " ".join(dom.text)
