"""The dashboard in a real headless Chromium (Debian's `chromium`; `bash .ci/install-browser.sh`):
the health table and the export-history chart, with the broken export marked, render from a
catalog built by a real run. The browser logs in the way a person does: `/?token=` once."""

from __future__ import annotations

import json
import os
import re
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
    """The elements of a dumped DOM as (tag, attributes), plus the text. An element inside a chart
    (`svg.history`) gets the chart's `data-layout` (wide or narrow) among its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.layout: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg":
            self.layout = a.get("data-layout")
        elif self.layout is not None:
            a.setdefault("data-layout", self.layout)
        self.elements.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.layout = None

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


def test_health_table(browser: str, site: Served, env: Env, tmp_path: Path) -> None:
    dom = render(browser, f"{site.url}/?token={quote(TOKEN)}", tmp_path / "profile")
    rows = dom.find("tr", "dataset")
    assert {(r["data-dataset"], r["data-destination"], r["data-health"]) for r in rows} == {
        (GOOD, "main", "ok"),
        (BROKEN, "main", "failing"),
    }
    assert dom.find("tr", "health-failing", data_dataset=BROKEN)
    assert dom.find("span", "badge") and dom.find("table", id="open-findings")
    text = " ".join(dom.text)
    assert "parquet.corrupt" in text  # the open findings
    assert "100%" in text  # full-read coverage after a full run
    assert dom.find("a", href=f"/datasets/{BROKEN}")
    assert dom.find("form", "restore", action="/restore")
    # the latest restorable point, as `verifier status` gives it: before the broken export, and the last one when all is well
    day = lambda n: (env.start + timedelta(days=n)).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    assert {c["data-latest-restorable"] for c in dom.find("td", "restorable")} == {day(1), day(4)}
    # the heading counts the findings (a count, not the run id); causes first, consequences under them
    shown = dom.find("tr", "finding")
    assert f"Open findings ({len(shown)})" in text and len(shown) == 2
    assert [(f["data-code"], f["data-consequence"]) for f in shown] == [
        ("parquet.corrupt", "no"),
        ("restore.chain_broken", "yes"),
    ]


def test_history_chart_marks_the_broken_export(browser: str, site: Served, env: Env, tmp_path: Path) -> None:
    dom = render(browser, f"{site.url}/datasets/{BROKEN}?token={quote(TOKEN)}", tmp_path / "profile")
    # the same chart in two layouts, the page's CSS shows one (test_chart_is_readable_at_any_width)
    assert [s["data-layout"] for s in dom.find("svg", "history")] == ["wide", "narrow"]
    broken_time = (env.start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for layout in ("wide", "narrow"):
        bars = dom.find("rect", "bar", data_layout=layout)
        assert len(bars) == 5
        broken = dom.find("rect", "broken", data_layout=layout)
        assert [b["data-export-time"] for b in broken] == [broken_time]
        assert broken[0]["data-status"] == "failed"
        assert broken[0]["fill"] == "#d32f2f"
        assert [m["data-export-time"] for m in dom.find("path", "broken-mark", data_layout=layout)] == [broken_time]
        # the two intact exports after the broken link cannot be restored: never drawn as ok
        assert [b["data-status"] for b in bars] == ["ok", "ok", "failed", "unrestorable", "unrestorable"]
        # record counts from the full read; unknown for the corrupt one
        assert len(dom.find("circle", "dot", data_layout=layout)) == 4
    assert len(dom.find("tr", "export-broken")) == 1
    assert [r["data-shown"] for r in dom.find("tr", "export-unrestorable")] == ["unrestorable", "unrestorable"]
    restorable = (env.start + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert [c["data-latest-restorable"] for c in dom.find("td", "restorable")] == [restorable]
    assert "parquet.corrupt" in " ".join(dom.text)
    # what is open now (the open_findings view), root cause first, its consequence under it, with
    # the run that first found it; the path relative to the destination, the full URI as a tooltip
    assert [(f["data-code"], f["data-first-run"], f["data-consequence"]) for f in dom.find("tr", "finding")] == [
        ("parquet.corrupt", "1", "no"),
        ("restore.chain_broken", "1", "yes"),
    ]
    where = dom.find("span", "where")
    assert where[0]["title"].startswith("file://") and where[0]["title"].endswith(".parquet")
    assert f"{BROKEN}/exportTime=" in "".join(dom.text) and str(env.tmp) not in "".join(dom.text)


def test_restore_form_renders_a_plan(browser: str, site: Served, env: Env, tmp_path: Path) -> None:
    as_of = (env.start + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    url = f"{site.url}/restore?dataset_id={BROKEN}&as_of={quote(as_of)}&token={quote(TOKEN)}"
    dom = render(browser, url, tmp_path / "profile")
    if dom.find("p", id="plan-error") and "not available" in " ".join(dom.text):
        pytest.skip("verifier.restore.plan is not in this build")
    assert dom.find("div", id="plan")
    assert len(dom.find("tr", "export-broken")) == 0
    assert "intact" in " ".join(dom.text)


@pytest.mark.parametrize("width", [390, 1400])
def test_restore_plan_marks_what_follows_a_broken_link(
    browser: str, site: Served, env: Env, width: int, tmp_path: Path
) -> None:
    """A broken plan: the failed link red, the intact exports after it marked unrestorable (they
    showed a plain "ok"), paths relative to the destination (the full URI as the tooltip), and
    export times as the other tables show them."""
    as_of = (env.start + timedelta(days=4, hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    page = f"/restore?dataset_id={BROKEN}&as_of={quote(as_of)}"
    dom = render(browser, f"{site.url}{page}&token={quote(TOKEN)}", tmp_path / "profile")
    if dom.find("p", id="plan-error") and "not available" in " ".join(dom.text):
        pytest.skip("verifier.restore.plan is not in this build")
    links = dom.find("tr", "link")
    assert [(r["data-status"], r["data-unrestorable"]) for r in links] == [
        ("ok", "no"),
        ("ok", "no"),
        ("failed", "no"),
        ("ok", "yes"),
        ("ok", "yes"),
    ]
    assert len(dom.find("tr", "export-broken")) == 1 and len(dom.find("tr", "export-unrestorable")) == 2
    assert len(dom.find("span", "unrestorable")) == 2
    text = "".join(dom.text)
    assert "file://" not in text and str(env.tmp) not in text
    assert f"{BROKEN}/exportTime=" in text  # the broken link's problem names its file, relative
    assert all(td["title"].startswith("file://") for td in dom.find("td", "when"))
    day = lambda n: (env.start + timedelta(days=n)).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    assert all(day(n) in text for n in range(5))
    assert not re.search(r"\dT\d\d:\d\d", text)  # the heading's as-of time too
    # on a phone too: the unrestorable cards tinted whole, as on the dataset page
    cards = json.loads(probe(browser, site, page, width, tmp_path / "probe", ROWS_PROBE)["data-cards"])
    assert [c["bg"] for c in cards] == [BROKEN_TINT, UNRESTORABLE_TINT, UNRESTORABLE_TINT]
    assert all(set(c["cells"]) == {CLEAR} for c in cards)


def test_without_the_token_the_browser_sees_nothing(browser: str, site: Served, tmp_path: Path) -> None:
    dom = render(browser, f"{site.url}/datasets/{BROKEN}", tmp_path / "profile")
    assert not dom.find("svg", "history")
    assert "authentication required" in " ".join(dom.text)


def probe(browser: str, site: Served, path: str, width: int, tmp_path: Path, script: str = "") -> dict[str, str]:
    """The body's attributes after `script` ran on the page at `path`, laid out `width` px wide:
    the served HTML, saved with a script that gives the body that width, writes its scroll width
    into `data-sw` and runs `script` (which writes what it measured into `document.body.dataset`)
    for `--dump-dom` (headless Chromium's window is never narrower than 500 px; the phone styles
    apply below 700)."""
    with site.client(TOKEN) as client:
        page = client.get(path).text
    js = f"<script>document.body.style.width = '{width}px';"
    js += f"document.body.dataset.sw = document.body.scrollWidth;{script}</script>"
    tmp_path.mkdir(parents=True, exist_ok=True)
    html = tmp_path / f"page-{width}.html"
    html.write_text(page.replace("</body>", js + "</body>"))
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / f'profile-{width}'}",
            f"--window-size={width},900",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    body = Dom(proc.stdout).find("body")
    assert body and "data-sw" in body[0], proc.stderr[-2000:]
    return body[0]


def measured(browser: str, site: Served, path: str, width: int, tmp_path: Path) -> int:
    """How wide the page at `path` is laid out in `width` px."""
    return int(probe(browser, site, path, width, tmp_path)["data-sw"])


@pytest.mark.parametrize("width", [390, 1400])
@pytest.mark.parametrize("page", ["/", f"/datasets/{BROKEN}", f"/restore?dataset_id={BROKEN}&as_of=2030-01-01T00:00Z"])
def test_no_page_is_wider_than_the_window(browser: str, site: Served, page: str, width: int, tmp_path: Path) -> None:
    """A phone (390 px) and a desktop (1400 px) see every page without scrolling sideways: wide
    tables become cards on a phone; on a desktop the page uses the whole width."""
    assert measured(browser, site, page, width, tmp_path) <= width


def test_tables_do_not_break_codes_or_squeeze_columns(site: Served) -> None:
    """`overflow-wrap: anywhere` let a table shrink a column below its longest word
    (`restore.chain_br / oken`, `fil / es`); codes, times and counts now never wrap, paths only at a slash."""
    with site.client(TOKEN) as client:
        page = client.get("/").text
    assert "vertical-align: top; overflow-wrap: break-word" in page and "max-width: 1280px" not in page
    assert "td.code, td.num, td.when" in page and "white-space: nowrap" in page
    assert f"{BROKEN}/<wbr>exportTime=" in page


def test_front_page_keeps_what_an_earlier_run_found(tmp_path: Path) -> None:
    """The front page lists what is broken now (the open_findings view): a later run over another
    destination only does not hide the corrupt file the first run found."""
    from verifier import runner
    from verifier.runner import RunOptions

    env = build_env(tmp_path)
    later = runner.run(env.config, RunOptions(level="listing", destinations=["slow"]))
    assert later.run_id > env.run_id
    with serve(create_app(env.config, start_scheduler=False)) as s, s.client(TOKEN) as client:
        page = client.get("/").text
    dom = Dom(page)
    assert [(f["data-code"], f["data-consequence"]) for f in dom.find("tr", "finding")] == [
        ("parquet.corrupt", "no"),
        ("restore.chain_broken", "yes"),
    ]
    assert "Open findings (2)" in page


CHART_PROBE = """
const shown = (e) => e.getBoundingClientRect().width > 0;
const charts = [...document.querySelectorAll('svg.history')].filter(shown);
const texts = [...document.querySelectorAll('svg.history text')].filter(shown).map((t) => {
  const r = t.getBoundingClientRect();
  return [t.textContent, r.left, r.top, r.right, r.bottom, parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a];
});
document.body.dataset.charts = JSON.stringify(charts.map((c) => c.dataset.layout));
document.body.dataset.texts = JSON.stringify(texts);
"""


@pytest.mark.parametrize(("width", "layout"), [(390, "narrow"), (1400, "wide")])
def test_chart_is_readable_at_any_width(
    browser: str, site: Served, env: Env, width: int, layout: str, tmp_path: Path
) -> None:
    """The chart's type is drawn at 11 px or more at 390 px (a 960-unit SVG on a phone drew 4 px
    labels) and at 1400 px, no two labels overlap, and its dates read as the tables': `YYYY-MM-DD HH:MM`."""
    body = probe(browser, site, f"/datasets/{BROKEN}", width, tmp_path, CHART_PROBE)
    assert json.loads(body["data-charts"]) == [layout]
    texts = json.loads(body["data-texts"])
    assert len(texts) >= 8  # the panels' names, their scales and the first and last date
    for label, left, _top, right, _bottom, px in texts:
        assert px >= 11, (label, px)
        assert left >= 0 and right <= width, label
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, (a[0], b[0])
    labels = [t[0] for t in texts]
    day = lambda n: (env.start + timedelta(days=n)).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    assert day(0) in labels and day(4) in labels
    assert not any("T" in t and t[:4].isdigit() for t in labels)


def test_chart_tooltips_use_the_tables_dates(browser: str, site: Served, env: Env, tmp_path: Path) -> None:
    """Tooltips say `2026-12-01 02:00`, as the tables do, not `2026-12-01T02:00:00Z`."""
    with site.client(TOKEN) as client:
        page = client.get(f"/datasets/{BROKEN}").text
    charts = page[page.index("<svg") : page.rindex("</svg>")]
    assert (env.start + timedelta(days=2)).strftime("%Y-%m-%d %H:%M") in charts
    shown = re.sub(r'data-export-time="[^"]*"', "", charts)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", shown)


ROWS_PROBE = """
const shown = (e) => e.getBoundingClientRect().width > 0;
const cards = [...document.querySelectorAll('tr.export-broken, tr.export-unrestorable')].map((tr) => ({
  cls: tr.className, display: getComputedStyle(tr).display, bg: getComputedStyle(tr).backgroundColor,
  stripe: getComputedStyle(tr).borderLeftWidth,
  cells: [...tr.querySelectorAll('td')].filter(shown).map((td) => getComputedStyle(td).backgroundColor),
}));
const since = [...document.querySelectorAll('tr.finding')].map((tr) => {
  const td = tr.querySelector('td.since');
  return td && shown(td) ? [getComputedStyle(td, '::before').content, td.innerText] : null;
});
document.body.dataset.cards = JSON.stringify(cards);
document.body.dataset.since = JSON.stringify(since);
"""
BROKEN_TINT, UNRESTORABLE_TINT, CLEAR = "rgb(253, 236, 234)", "rgb(253, 243, 242)", "rgba(0, 0, 0, 0)"


@pytest.mark.parametrize("width", [390, 1400])
def test_broken_exports_are_tinted_whole(browser: str, site: Served, width: int, tmp_path: Path) -> None:
    """A failed or unrestorable export is tinted as a row (a card on a phone), not cell by cell:
    on a phone the cells are inline blocks and the gaps between them showed white."""
    body = probe(browser, site, f"/datasets/{BROKEN}", width, tmp_path, ROWS_PROBE)
    cards = json.loads(body["data-cards"])
    assert sorted(c["cls"].split()[-1] for c in cards) == ["export-broken"] + ["export-unrestorable"] * 2
    for c in cards:
        assert c["bg"] == (BROKEN_TINT if "export-broken" in c["cls"] else UNRESTORABLE_TINT), c
        assert c["cells"] and set(c["cells"]) == {CLEAR}, c  # the row's tint shows through, one piece
        if width == 390:
            assert c["display"] == "block" and c["stripe"] == "4px", c  # a card, with its stripe down the edge


@pytest.mark.parametrize("width", [390, 1400])
@pytest.mark.parametrize("page", ["/", f"/datasets/{BROKEN}"])
def test_findings_say_since_when_on_a_phone_too(
    browser: str, site: Served, page: str, width: int, tmp_path: Path
) -> None:
    """Every open finding shows since when it is open (and the run that found it), on a phone too."""
    since = json.loads(probe(browser, site, page, width, tmp_path, ROWS_PROBE)["data-since"])
    assert len(since) == 2
    for shown in since:
        assert shown, since
        label, text = shown
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \(run 1\)", text), text
        assert label == ('"since "' if width == 390 else "none"), label  # labelled where there is no header


BEHIND_PROBE = """
document.body.dataset.behind = JSON.stringify([...document.querySelectorAll('td.restorable')].map((td) => {
  const b = td.querySelector('.behind');
  return [td.dataset.latestRestorable, b !== null && b.getBoundingClientRect().width > 0];
}));
"""


@pytest.mark.parametrize("width", [390, 1400])
def test_dataset_page_says_the_restorable_point_is_behind(
    browser: str, site: Served, env: Env, width: int, tmp_path: Path
) -> None:
    """The dataset page marks the latest restorable point "behind" when it is older than the last
    export, as the front page does; not when the last export is restorable."""
    day = lambda n: (env.start + timedelta(days=n)).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    broken = json.loads(probe(browser, site, f"/datasets/{BROKEN}", width, tmp_path, BEHIND_PROBE)["data-behind"])
    assert broken == [[day(1), True]]
    good = json.loads(probe(browser, site, f"/datasets/{GOOD}", width, tmp_path / "good", BEHIND_PROBE)["data-behind"])
    assert good == [[day(4), False]]
    front = json.loads(probe(browser, site, "/", width, tmp_path / "front", BEHIND_PROBE)["data-behind"])
    assert sorted(front) == sorted([[day(1), True], [day(4), False]])


MSG_PROBE = """
document.body.dataset.msgs = JSON.stringify([...document.querySelectorAll('tr.finding')].map((tr) => [
  tr.dataset.code, tr.querySelector('td.msg .where')?.innerText ?? '', tr.querySelector('td.msg').innerText,
]));
"""


@pytest.mark.parametrize("width", [390, 1400])
@pytest.mark.parametrize("page", ["/", f"/datasets/{BROKEN}"])
def test_consequences_name_the_dataset_once(browser: str, site: Served, page: str, width: int, tmp_path: Path) -> None:
    """A consequence's path starts with the dataset id; its message no longer starts with it again
    (`0bad…/exportTime=…` over `0bad…: the export of …`)."""
    msgs = json.loads(probe(browser, site, page, width, tmp_path, MSG_PROBE)["data-msgs"])
    chain = [m for m in msgs if m[0] == "restore.chain_broken"]
    assert len(chain) == 1
    _code, where, text = chain[0]
    assert where.replace("\n", "").startswith(f"{BROKEN}/exportTime="), where
    message = text.split("\n", 1)[1]
    assert message.startswith("the export of "), message
    assert text.count(BROKEN) == 1, text
    # times in messages as the tables show them (2026-12-02 02:00), never 2026-12-02T02:00:00Z
    assert message.startswith("the export of 20") and " is failed, so " in message, message
    assert not any(re.search(r"\dT\d\d:\d\d", m[2]) for m in msgs), msgs
