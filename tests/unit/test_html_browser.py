"""The HTML report in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
installed by ``make tools`` through scripts/ensure-browser.sh), driven over chromedriver's W3C
WebDriver API (tests/unit/webdriver.py, standard library only).

Each test opens a report written by ``kubefort scan -o html``, checks what is on the page through the
DOM (counts, filters, paging, a finding that opens), and fails on any console message of level
warning or above and on any resource the page requested (``performance.getEntriesByType``): the page
must be self-contained. Screenshots at desktop and phone widths go to the test's temporary
directory. One browser session serves the whole module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from html_webdriver import Browser, chromium_paths

from kubefort.api import ScanOptions, scan
from kubefort.cli import cli
from kubefort.reporters.html import PAGE_SIZE, HtmlReporter

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "GoogleCloudPlatform__microservices-demo"
PATHS = chromium_paths()

pytestmark = pytest.mark.skipif(
    PATHS is None, reason="chromium and chromium-driver are not installed (make tools installs them)"
)

DESKTOP = (1280, 900)
PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert PATHS is not None
    b = Browser(*PATHS, tmp_path_factory.mktemp("chromedriver") / "chromedriver.log")
    try:
        b.size(*DESKTOP)
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _write(tmp: Path, *args: str) -> tuple[Path, int]:
    out = tmp / "report.html"
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", *args, "-o", "html", "--output", str(out)])
    assert r.exit_code in (0, 1), r.stderr
    return out, r.exit_code


def _open(b: Browser, page: Path) -> None:
    b.console()  # drop what earlier pages logged
    b.get(page.as_uri())
    _wait(b, "return document.readyState === 'complete' && !document.getElementById('filters').hidden")


def _wait(b: Browser, script: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = b.js(script)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.05)


def _text(b: Browser, css: str) -> str:
    return str(b.js("return document.querySelector(arguments[0]).textContent", css))


def _rows(b: Browser) -> int:
    return int(b.js("return document.querySelectorAll('#rows tr.finding').length"))


def _assert_clean(b: Browser) -> None:
    """No console message at warning or above, no resource fetched by the page."""
    logs = [e for e in b.console() if e.get("level") in ("SEVERE", "WARNING")]
    assert not logs, logs
    requested = b.js("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert requested == [], requested


def _select(b: Browser, css: str, value: str) -> None:
    b.js(
        "var s = document.querySelector(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('change', {bubbles: true}));",
        css,
        value,
    )


def _screens(b: Browser, shots: Path, name: str) -> None:
    for label, (w, h) in (("desktop", DESKTOP), ("narrow", PHONE)):
        b.size(w, h)
        path = shots / f"{name}-{label}.png"
        b.screenshot(path)
        assert path.stat().st_size > 10_000
        if label == "narrow":  # the page reflows: nothing wider than the screen but what scrolls itself
            overflow = b.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name}: page is {overflow}px wider than a {w}px screen"
    b.size(*DESKTOP)


def test_harness_sees_requests_and_errors(browser: Browser, tmp_path: Path) -> None:
    """The checks are not vacuous: a request the page tries (blocked by its CSP) and a console error
    are both seen."""
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "hardened-app")]))
    page = tmp_path / "r.html"
    page.write_text(HtmlReporter().html(report))
    _open(browser, page)
    browser.js(
        "var i = document.createElement('img'); i.src = 'http://127.0.0.1:9/x.png'; document.body.appendChild(i);"
    )
    browser.js("console.error('planted')")
    time.sleep(0.3)
    with pytest.raises(AssertionError):
        _assert_clean(browser)


def test_insecure_app(browser: Browser, tmp_path: Path, shots: Path) -> None:
    page, _ = _write(tmp_path, str(ROOT / "examples" / "insecure-app"))
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))
    s = report.summary()
    _open(browser, page)
    # the counts on the page are the report's
    assert _text(browser, "#total-findings") == str(s["findings"])
    for label, n in s["by_severity"].items():
        assert _text(browser, f"#sev-{label}") == str(n)
    assert _text(browser, "#res-pass") == str(s["results"]["pass"])
    assert _text(browser, "#match-count") == str(s["findings"])
    assert _rows(browser) == min(PAGE_SIZE, s["findings"])
    _assert_clean(browser)

    # paging: the second page holds the rest
    assert s["findings"] > PAGE_SIZE
    browser.click("#next")
    assert _wait(browser, "return document.getElementById('page-info').textContent.indexOf('page 2') >= 0")
    assert _rows(browser) == s["findings"] - PAGE_SIZE

    # a severity filter narrows the table to that severity
    _select(browser, "#f-severity", "critical")
    crit = s["by_severity"]["critical"]
    _wait(browser, f"return document.getElementById('match-count').textContent === '{crit}'")
    sevs = browser.js("return Array.from(document.querySelectorAll('#rows .sev')).map(e => e.textContent)")
    assert sevs == ["critical"] * crit

    # filters combine: critical and the search text of one rule
    browser.type("#f-text", "KF-POD-001")
    want = sum(1 for f in report.active_findings if f.rule.id == "KF-POD-001" and f.severity.label == "critical")
    _wait(browser, f"return document.getElementById('match-count').textContent === '{want}'")
    assert set(browser.js("return Array.from(document.querySelectorAll('#rows .rule')).map(e => e.textContent)")) == {
        "KF-POD-001"
    }

    # a finding opens to its rationale, fix, field path and source lines, the finding's line marked
    browser.click("#rows tr.finding summary")
    assert browser.js("return document.querySelector('#rows details').open") is True
    detail = browser.js(
        "var d = document.querySelector('#rows details .detail'); return {"
        "visible: d.offsetHeight > 0, why: d.querySelector('.rationale').textContent,"
        "fix: d.querySelector('.remediation').textContent, path: d.querySelector('.path').textContent,"
        "hit: d.querySelector('pre.src .hit').textContent}"
    )
    assert detail["visible"]
    assert detail["why"].startswith("Why:") and len(detail["why"]) > 20
    assert detail["fix"].startswith("Fix:") and "securityContext.privileged" in detail["path"]
    assert "privileged: true" in detail["hit"]
    _assert_clean(browser)

    # clearing the filters shows everything again
    _select(browser, "#f-severity", "")
    browser.js("var t = document.getElementById('f-text'); t.value = ''; t.dispatchEvent(new Event('input'));")
    _wait(browser, f"return document.getElementById('match-count').textContent === '{s['findings']}'")
    _select(browser, "#f-namespace", "shop")
    shop = sum(1 for f in report.active_findings if f.object.namespace == "shop")
    _wait(browser, f"return document.getElementById('match-count').textContent === '{shop}'")
    _select(browser, "#f-namespace", "")
    _screens(browser, shots, "insecure-app")
    _assert_clean(browser)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the repository")
def test_corpus_project(browser: Browser, tmp_path: Path, shots: Path) -> None:
    page, _ = _write(tmp_path, str(CORPUS))
    report = scan(ScanOptions(paths=[str(CORPUS)]))
    s = report.summary()
    _open(browser, page)
    assert _text(browser, "#total-findings") == str(s["findings"])
    assert _text(browser, "#match-count") == str(s["findings"])
    assert _rows(browser) == min(PAGE_SIZE, s["findings"])
    kinds = sorted({f.object.kind for f in report.active_findings})
    _select(browser, "#f-kind", kinds[0])
    want = sum(1 for f in report.active_findings if f.object.kind == kinds[0])
    _wait(browser, f"return document.getElementById('match-count').textContent === '{want}'")
    assert set(
        browser.js("return Array.from(document.querySelectorAll('#rows .obj')).map(e => e.textContent.split('/')[0])")
    ) == {kinds[0]}
    browser.click("#rows tr.finding summary")
    assert browser.js("return document.querySelector('#rows details .detail').offsetHeight > 0")
    _screens(browser, shots, CORPUS.name)
    _assert_clean(browser)


def test_hostile_names_stay_text(browser: Browser, tmp_path: Path) -> None:
    name = "</script><img src=x onerror=alert(1)>"
    (tmp_path / "app.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n"
        f"  name: '{name}'\n  namespace: '<b>ns</b>'\nspec:\n  containers:\n"
        "  - name: '<script>alert(2)</script>'\n    image: nginx\n    securityContext: {privileged: true}\n"
    )
    page, _ = _write(tmp_path, str(tmp_path / "app.yaml"))
    _open(browser, page)
    assert browser.js("return document.querySelectorAll('img, b, #rows script').length") == 0
    objs = browser.js("return Array.from(document.querySelectorAll('#rows .obj')).map(e => e.textContent)")
    assert f"Pod/<b>ns</b>/{name}" in objs
    browser.type("#f-text", "onerror")  # the search reads the name as text
    _wait(browser, "return document.querySelectorAll('#rows tr.finding').length > 0")
    _assert_clean(browser)


def test_fifty_thousand_findings(browser: Browser, tmp_path: Path) -> None:
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))
    report.findings = report.findings * (50_000 // len(report.findings) + 1)
    n = len(report.active_findings)
    page = tmp_path / "big.html"
    page.write_text(HtmlReporter().html(report))
    t0 = time.monotonic()
    _open(browser, page)
    opened = time.monotonic() - t0
    assert _text(browser, "#match-count") == str(n)
    assert _rows(browser) == PAGE_SIZE
    took = browser.js(
        "var t = performance.now(), s = document.getElementById('f-severity'); s.value = 'low';"
        "s.dispatchEvent(new Event('change')); return new Promise(function (ok) {"
        " setTimeout(function () { ok(performance.now() - t); }, 0); });"
    )
    low = sum(1 for f in report.active_findings if f.severity.label == "low")
    _wait(browser, f"return document.getElementById('match-count').textContent === '{low}'")
    assert opened < 20 and took < 2000, (opened, took)
    _assert_clean(browser)


def test_pictures(browser: Browser, tmp_path: Path, shots: Path) -> None:
    from test_html_views import APP

    (tmp_path / "app.yaml").write_text(APP)
    page, _ = _write(tmp_path, str(tmp_path / "app.yaml"))
    _open(browser, page)
    cells = browser.js(
        "return Array.from(document.querySelectorAll('#matrix-1 rect.cell')).map(r => r.querySelector('title').textContent)"
    )
    assert len(cells) == 4 and "Deployment/frontend → Deployment/<script>alert(1)</script>: TCP/8080" in cells
    lanes = browser.js("return document.querySelectorAll('#escalation svg g.node').length")
    assert lanes == 2 + 3  # admin-sa -> cluster-admin; deployer -> admin-sa -> cluster-admin
    assert browser.js("return document.querySelector('#escalation svg').getBoundingClientRect().height > 50")
    browser.js("document.getElementById('netpol').scrollIntoView()")
    _screens(browser, shots, "pictures")
    _assert_clean(browser)


def test_readable_without_javascript(browser: Browser, tmp_path: Path) -> None:
    """The page with its script removed (what a reader with JavaScript off gets): the totals, the first
    page of findings, and findings that open (``<details>`` needs no script); no filters shown."""
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))
    html = HtmlReporter().html(report)
    start = html.rindex("<script>")
    page = tmp_path / "nojs.html"
    page.write_text(html[:start] + html[html.index("</script>", start) + len("</script>") :])
    browser.console()
    browser.get(page.as_uri())
    _wait(browser, "return document.readyState === 'complete'")
    s = report.summary()
    assert _text(browser, "#total-findings") == str(s["findings"])
    assert _rows(browser) == PAGE_SIZE
    assert "the first 100 shown" in _text(browser, "#pager")
    assert browser.js("return document.getElementById('filters').offsetHeight") == 0
    browser.click("#rows tr.finding summary")
    assert browser.js("return document.querySelector('#rows details .detail pre.src .hit').offsetHeight > 0")
    _assert_clean(browser)
