"""Fixtures shared by the unit tests: an S3 endpoint (moto's server on a free loopback port, one per
test module that asks for it) and a client with the test credentials of :mod:`s3_moto`. boto3 and moto
are imported on use: a test that asks for them is skipped when they are missing, no other test is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from s3_moto import CREDS


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
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
    boto3 = pytest.importorskip("boto3")
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(k, raising=False)
    return boto3.client("s3", endpoint_url=endpoint)
