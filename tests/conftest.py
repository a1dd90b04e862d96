from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TOOLS_BIN = ROOT / ".cache" / "tools" / "bin"


def tool(name: str) -> str | None:
    """An external binary from .cache/tools (make tools) or PATH."""
    cand = TOOLS_BIN / name
    if cand.exists():
        return str(cand)
    return shutil.which(name)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED


@pytest.fixture
def with_tools_path(monkeypatch: pytest.MonkeyPatch) -> None:
    if TOOLS_BIN.is_dir():
        monkeypatch.setenv("PATH", f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


# -- every SARIF document the tests produce is checked against the SARIF 2.1.0 schema ----------------

SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"


def validate_sarif(doc: dict) -> None:
    """Raise when ``doc`` is not valid SARIF 2.1.0: the schema (tests/data/README.md says where it is
    from), then what the schema leaves to the text of the standard: artifact URIs are URI references
    (percent-encoded), relative ones have a uriBaseId that ``originalUriBaseIds`` resolves to an
    absolute directory URI."""
    import json
    import re

    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    unsafe = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
    for run in doc["runs"]:
        bases = run.get("originalUriBaseIds", {})
        for base in bases.values():
            assert re.match(r"^file:///", base["uri"]) and base["uri"].endswith("/"), base
        for res in run.get("results", []):
            for loc in res.get("locations", []):
                art = loc["physicalLocation"]["artifactLocation"]
                assert not unsafe.search(art["uri"]), art
                if "uriBaseId" in art:
                    assert art["uriBaseId"] in bases and not art["uri"].startswith("/"), art
                else:  # an absolute URI, or what is no file at all ("<stdin>")
                    assert re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", art["uri"]) or art["uri"].startswith("%3C"), art


@pytest.fixture(autouse=True)
def _sarif_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap the SARIF reporter so that each document it writes in a test is validated first."""
    import io
    import json

    from kubefort.reporters.sarif import SarifReporter

    original = SarifReporter.render

    def render(self: SarifReporter, report: object, out: object) -> None:
        buf = io.StringIO()
        original(self, report, buf)  # type: ignore[arg-type]
        validate_sarif(json.loads(buf.getvalue()))
        out.write(buf.getvalue())  # type: ignore[attr-defined]

    monkeypatch.setattr(SarifReporter, "render", render)


#: credentials of the moto S3 endpoint below (tests that write them into files import them)
S3_CREDS = {
    "AWS_ACCESS_KEY_ID": "kubefort-test",
    "AWS_SECRET_ACCESS_KEY": "kubefort-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An S3 endpoint: moto's server on a free loopback port, one per test module that asks for it
    (moto imported on use: without it, only the tests asking are skipped)."""
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 S3 client of :func:`endpoint`, with the test credentials and no proxy."""
    boto3 = pytest.importorskip("boto3")
    for k, v in S3_CREDS.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(k, raising=False)
    return boto3.client("s3", endpoint_url=endpoint)
