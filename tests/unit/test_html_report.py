"""``-o html``: one self-contained page; scanned text stays text; secret values never appear.

The page is also opened in a real browser by ``tests/unit/test_html_browser.py``; these tests check
the file itself: what a reader without JavaScript gets, the escaping of the data block, the source
lines and their masking.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort.api import ScanOptions, scan
from kubefort.cli import cli
from kubefort.reporters import Format, get_reporter
from kubefort.reporters.html import MASK, PAGE_SIZE, HtmlReporter, csp_hash, mask_lines, script_json

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = """\
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: shop
stringData:
  password: Plain-Secret-Value-77
data:
  token: UGxhaW4tU2VjcmV0LVRva2VuLTk5
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: "</script><img src=x onerror=alert(1)>"
  namespace: "<b>ns</b>"
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"password":"Last-Applied-Secret-55"}'
spec:
  selector:
    matchLabels: {app: a}
  template:
    metadata:
      labels: {app: a}
    spec:
      containers:
      - name: "c</script><script>alert(2)</script>"
        image: nginx
        env:
        - name: DB_PASSWORD
          value: Env-Secret-Value-33
        args: ["--token", "Arg-Secret-Value-11"]
        securityContext:
          privileged: true
"""
SECRETS = ["Plain-Secret-Value-77", "UGxhaW4tU2VjcmV0LVRva2VuLTk5", "Last-Applied-Secret-55", "Env-Secret-Value-33"]
SECRETS.append("Arg-Secret-Value-11")


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="kubefort-data">(.*?)</script>', page, re.S)
    assert m
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    d = tmp_path_factory.mktemp("hostile")
    (d / "app.yaml").write_text(HOSTILE)
    out = d / "report.html"
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["scan", str(d / "app.yaml"), "-o", "html", "--output", str(out)], catch_exceptions=False
    )
    assert r.exit_code == 1, r.stderr
    return d, out.read_text()


def test_cli_writes_html(hostile: tuple[Path, str]) -> None:
    _, page = hostile
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "html" in [f.value for f in Format]


def test_hostile_names_stay_text(hostile: tuple[Path, str]) -> None:
    _, page = hostile
    # exactly two script elements: the data block and the page's own script; no injected element
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<img" not in page and "<b>" not in page
    # the name is on the page (escaped) and in the data (as \u003c...), and reads back as written
    assert html.escape("</script><img src=x onerror=alert(1)>", quote=False) in page
    names = {row[4] for row in _data(page)["findings"]}
    assert "</script><img src=x onerror=alert(1)>" in names


def test_script_json_cannot_close_its_element() -> None:
    text = script_json({"a": "</script><!-- <script> & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- <script> & \u2028"}


def test_no_secret_value(hostile: tuple[Path, str]) -> None:
    _, page = hostile
    for s in SECRETS:
        assert s not in page
    assert html.escape(MASK) in page or MASK.replace("<", "\\u003c").replace(">", "\\u003e") in page


def test_source_lines_around_findings(hostile: tuple[Path, str]) -> None:
    _, page = hostile
    data = _data(page)
    privileged = [r for r in data["findings"] if data["rules"][r[1]][0] == "KF-POD-001"]
    assert privileged
    row = privileged[0]
    start, lines = data["snippets"][row[9]]
    assert start <= row[8] < start + len(lines)
    assert lines[row[8] - start].strip() == "privileged: true"
    # a Secret shows no source at all
    assert all(r[9] == -1 for r in data["findings"] if r[2] == "Secret")


def test_csp_allows_only_the_page_script(hostile: tuple[Path, str]) -> None:
    _, page = hostile
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert m
    csp = m.group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script and f"'{csp_hash(script.group(1))}'" in csp
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_essentials_without_javascript() -> None:
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))
    page = HtmlReporter().html(report)
    s = report.summary()
    assert f'<span class="n" id="total-findings">{s["findings"]}</span>' in page
    for label, n in s["by_severity"].items():
        assert f'id="sev-{label}"' in page and f">{n}</span>" in page
    rows = page.count('<tr class="finding ')
    assert rows == min(PAGE_SIZE, s["findings"])
    assert "<svg" in page and 'id="chart-severity"' in page
    assert f'<span id="res-pass">{s["results"]["pass"]}</span>' in page


def test_every_reporter_entry_point() -> None:
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "hardened-app")]))
    import io

    buf = io.StringIO()
    get_reporter(Format.HTML).render(report, buf)
    assert "</html>" in buf.getvalue()


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("  password: hunter2", True),
        ('  "apiKey": "abc-123-def",', True),
        ("  replicas: 3", False),
        ("  image: nginx:1.27", False),
        ("    - AKIAIOSFODNN7EXAMPLE", True),
        ("  url: postgres://user:Pa55word@db:5432/app", True),
        ("  secretName: tls-cert", False),
    ],
)
def test_mask_lines(line: str, masked: bool) -> None:
    out = mask_lines([line])[0]
    assert (MASK in out) is masked, out


def test_mask_block_scalar_and_env_and_flags() -> None:
    lines = [
        "  private_key: |",
        "    -----BEGIN RSA PRIVATE KEY-----",
        "    MIIEowIBAAKCAQEAfakeFAKE",
        "  other: x",
        "  - name: API_TOKEN",
        "    value: plain-value",
        "  args:",
        "  - --password",
        "  - Flag-Value-99",
        "  tokens:",
        "  - Listed-Token-1",
        "  kind: x",
    ]
    out = mask_lines(lines)
    assert out[1].strip() == MASK and out[2].strip() == MASK and out[3] == "  other: x"
    assert out[5].endswith(MASK)
    assert out[8] == "  - " + MASK
    assert out[10] == "  - " + MASK and out[11] == "  kind: x"


def test_large_report_stays_bounded() -> None:
    """The page holds each distinct source excerpt once, and the script pages: its size grows with
    the findings, not with findings times context."""
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))
    base = len(HtmlReporter().html(report))
    report.findings = report.findings * 20
    big = HtmlReporter().html(report)
    assert big.count('<tr class="finding ') == PAGE_SIZE
    assert len(big) < base * 8


def test_cis_and_vulnerability_charts() -> None:
    import copy

    from kubefort.engine.rule import Severity
    from kubefort.rules import default_registry

    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))
    page = HtmlReporter().html(report)
    assert 'id="chart-cis"' in page and ">CIS 5.2</text>" in page  # pod rules map to CIS 5.2
    assert 'id="chart-vulnerabilities"' not in page  # no image was scanned
    vuln = default_registry().get("KF-VULN-001").meta
    extra = []
    for sev in (Severity.CRITICAL, Severity.HIGH, Severity.HIGH):
        f = copy.copy(report.findings[0])
        f.rule, f.severity = vuln, sev
        extra.append(f)
    report.findings = report.findings + extra
    page = HtmlReporter().html(report)
    chart = page[
        page.index('id="chart-vulnerabilities"') : page.index("</figure>", page.index('id="chart-vulnerabilities"'))
    ]
    assert re.findall(r"<title>(\w+): (\d+)</title>", chart)[:2] == [("critical", "1"), ("high", "2")]


def test_node_audit_and_versions_pages(tmp_path: Path) -> None:
    """Every command that renders a findings report takes ``-o html``: the node audit (charted by CIS
    section) and ``kubefort versions``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "node_fixture_modes_html", ROOT / "tests" / "fixtures" / "node" / "modes.py"
    )
    assert spec and spec.loader
    modes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modes)
    node = modes.prepare("insecure", tmp_path / "node")
    runner = CliRunner(mix_stderr=False)
    out = tmp_path / "node.html"
    r = runner.invoke(cli, ["node", "audit", "--root", str(node), "-o", "html", "--output", str(out)])
    assert r.exit_code == 1, r.stderr
    page = out.read_text()
    assert 'id="chart-cis"' in page and ">CIS 1.2</text>" in page  # API server checks: CIS 1.2.x
    assert int(re.search(r'id="total-findings">(\d+)<', page).group(1)) > 10  # type: ignore[union-attr]
    out = tmp_path / "versions.html"
    r = runner.invoke(
        cli,
        [
            "versions",
            "--apiserver",
            "cp-1=1.31.2",
            "--kubelet",
            "n1=1.28.5",
            "--today",
            "2026-12-01",
            "-o",
            "html",
            "--output",
            str(out),
        ],
    )
    assert r.exit_code == 1, r.stderr
    assert "KF-VER-" in out.read_text()
