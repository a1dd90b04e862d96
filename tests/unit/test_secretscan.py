"""kubefort.analysis.secretscan: names, values, tuning of the detect-secrets entropy plugins, and the
rule behaviour that fixtures cannot show (scan mode)."""

from __future__ import annotations

import pytest

from kubefort.analysis import secretscan as ss
from kubefort.engine.runner import evaluate
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.rules.secrets import secret_committed_in_manifest


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "dbPassword",
        "MYSQL_ROOT_PASSWD",
        "PGPASSWORD",
        "API_KEY",
        "apiKey",
        "AWS_SECRET_ACCESS_KEY",
        "AZURE_STORAGE_KEY",
        "OCI_CLI_KEY_CONTENT",
        "GITHUB_TOKEN",
        "client-secret",
        "JWT",
        "BEARER",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ],
)
def test_sensitive_names(name: str) -> None:
    assert ss.is_sensitive_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD_FILE",
        "TOKEN_URL",
        "secretName",
        "secretKeyRef",
        "JWT_PUBLIC_KEY",
        "TOKENIZERS_PARALLELISM",
        "PWD",
        "MAX_TOKENS",
        "PASSWORD_MIN_LENGTH",
        "DB_HOST",
        "--token-auth-file",
        "SESSION_TOKEN_TTL",
    ],
)
def test_names_that_only_describe_a_secret(name: str) -> None:
    assert not ss.is_sensitive_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "$(DB_PASSWORD)",
        "${DB_PASSWORD}",
        "{{ .Values.password }}",
        "<password>",
        "true",
        "null",
        "$DB_PASSWORD",
        "/run/secrets/db/password",
        "file:///etc/creds",
    ],
)
def test_not_literal(value: str) -> None:
    assert not ss.is_literal(value)


def test_env_literal_reasons() -> None:
    assert ss.env_literal_reasons("DB_PASSWORD", "hunter2-but-longer") == ("sensitive name",)
    assert ss.env_literal_reasons("DB_PASSWORD", "$(DB_PASS)") == ()
    assert ss.env_literal_reasons("DB_PASSWORD", "") == ()
    assert ss.env_literal_reasons("AWS_KEY_ID", "AKIAIOSFODNN7EXAMPLE") == ("AWS access key",)
    allow = ss.Allowlist.of(["db_password"], ["dev-.*"])
    assert ss.env_literal_reasons("DB_PASSWORD", "hunter2-but-longer", allow) == ()  # name allowed
    assert ss.env_literal_reasons("API_TOKEN", "dev-token", allow) == ()  # value allowed
    # an allowed name does not hide a credential pattern in its value
    assert ss.env_literal_reasons("DB_PASSWORD", "AKIAIOSFODNN7EXAMPLE", allow) == ("AWS access key",)


@pytest.mark.parametrize(
    "value",
    [
        "registry.example.com/shop/app:1.2.3",
        "https://api.example.com/v1/",
        "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",  # git commit
        "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904e3b6b0c2b8a9f0e1d2c3b4a5",
        "550e8400-e29b-41d4-a716-446655440000",
        "-XX:MaxRAMPercentage=75 -XX:+UseG1GC",
        "MyApplicationConfigurationValue2024",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlQ0EKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",  # a certificate
    ],
)
def test_ordinary_values_do_not_trigger(value: str) -> None:
    assert ss.detect_value(value) == ()


def test_entropy_tuning() -> None:
    token = "kX9vQ2mZ7pL4wR8tY1uN6bH3cJ5gF0dSa3"
    assert ss.detect_value(token) == ("Base64 High Entropy String",)
    hex_key = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928"
    assert ss.detect_value(hex_key) == ()  # hex alone: digests and commit SHAs look the same
    assert ss.detect_value(hex_key, name="ENCRYPTION_KEY") == ("Hex High Entropy String",)
    assert ss.detect_value(f"prefix {token}") == ()  # entropy is judged on whole tokens only


@pytest.mark.parametrize(
    "value,label",
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "private key"),
        ("ghp_FAKEfakeFAKEfake0123456789abcdefABCD", "GitHub token"),
        ("github_pat_11FAKEFAKE0123456789ab_FAKEfakeFAKEfake0123456789", "GitHub token"),
        ("xoxp-000000000000-FAKEfakeFAKE", "Slack token"),
        ("AIzaSyFAKE-fake_FAKE0123456789abcdefghi", "Google API key"),
        ("postgres://app:Zt8vQm3kWp9xLr2n@db:5432/app", "Basic Auth Credentials"),
        ("sk_live_FAKEfakeFAKEfake01234567", "Stripe Access Key"),
    ],
)
def test_credential_patterns(value: str, label: str) -> None:
    assert label in ss.credential_labels(value)


def test_assignments_and_pii() -> None:
    text = "db.url=jdbc:postgresql://db/app\ndb.password=Wm5-fake-Inv-3pq\nsecretName: app-tls\npassword_file: /x\n"
    assert ss.find_assignments(text) == [("db.password", ("sensitive name",))]
    assert ss.find_pii("contact: ops@example.com") == ("e-mail address",)
    assert ss.find_pii("repo: git@github.com:org/app.git, version 1.22.3") == ()
    assert ss.find_pii("DE89 3704 0044 0532 0130 00") == ("IBAN",)
    assert ss.find_pii("DE89 3704 0044 0532 0130 01") == ()  # bad checksum


def test_command_line() -> None:
    found = ss.scan_command_line(
        [
            "--db-password=Ex9-fake-Mon-5tq",
            "--token",
            "Ct2-fake-Warm-6yh",
            "--token-file=/x",
            "--api-key=$(API_KEY)",
            "sh -c 'PGPASSWORD=Mg4-fake-Mig-8ws psql'",
        ]
    )
    assert sorted(found) == [0, 2, 5]
    assert all("fake" not in r for rs in found.values() for r in rs)  # reasons never quote the value


def test_nothing_raises_on_bad_input() -> None:
    assert ss.parse_json_object('{"a": ') is None
    assert ss.parse_json_object("[1]") is None
    assert ss.decode_base64_text("not base64 !!") is None
    assert list(ss.secret_value_keys({"data": {"a": "%%%", "b": None, "c": ""}})) == [("data", "a")]


SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: Fx7-fake-Pa55-wq8z}
"""


@pytest.mark.parametrize("mode,fails", [("manifest", True), ("cluster", False), ("admission", False)])
def test_committed_secret_only_in_manifest_mode(mode: str, fails: bool) -> None:
    inv = Inventory(load_text(SECRET, "secret.yaml").objects)
    report = evaluate([secret_committed_in_manifest], inv, mode=mode)
    assert bool(report.findings) is fails


# -- issue 12: placeholders and identifiers are not literal secrets ---------------------------------------


@pytest.mark.parametrize(
    "name,value",
    [
        ("DB_PASSWORD", "changeme"),
        ("DB_PASSWORD", "Change-Me!"),
        ("API_TOKEN", "REPLACE_ME"),
        ("ETCD_DISCOVERY_TOKEN", "INSERT_ETCD_DISCOVERY_TOKEN"),  # etcd example: what to put there
        ("GOOGLE_API_KEY", "GOOGLE_API_KEY_VAL"),  # a kustomize component's stand-in
        ("SMTP_PASSWORD", "your-password-here"),
        ("LICENSE_KEY", "xxxxxxxxxxxx"),
        ("ADMIN_TOKEN", "TODO"),
        ("MINIO_ACCESS_KEY", "minio"),  # repeats a word of its own name
        ("DB_PASSWORD", "password"),
    ],
)
def test_fill_in_values_are_not_secrets(name: str, value: str) -> None:
    assert ss.env_literal_reasons(name, value) == ()
    assert ss.find_assignments(f"{name.lower()}={value}\n") == []
    assert ss.scan_command_line([f"--{name.lower().replace('_', '-')}={value}"]) == {}


def test_initial_cluster_token_is_an_identifier() -> None:
    """etcd's --initial-cluster-token names the cluster being bootstrapped; it grants nothing."""
    assert not ss.is_sensitive_name("ETCD_INITIAL_CLUSTER_TOKEN")
    assert not ss.is_sensitive_name("initial-cluster-token")
    assert ss.env_literal_reasons("ETCD_INITIAL_CLUSTER_TOKEN", "etcd-cluster-prod-1") == ()
    assert ss.is_sensitive_name("ETCD_DISCOVERY_TOKEN")  # the discovery URL's token is one


@pytest.mark.parametrize(
    "name,value",
    [
        ("MINIO_SECRET_KEY", "minio123"),  # a default, but a real key
        ("MYSQL_ROOT_PASSWORD", "c-krit"),
        ("API_KEY", "s3cr3t-Value"),  # mixed case and digits: not an instruction
        ("TOKEN", "Replace-Me-9f2Kq"),
    ],
)
def test_real_values_still_count(name: str, value: str) -> None:
    assert "sensitive name" in ss.env_literal_reasons(name, value)


def test_fill_in_secret_values_are_placeholders() -> None:
    assert ss.is_placeholder("REPLACE_ME") and ss.is_placeholder("INSERT_DB_PASSWORD")
    assert not ss.is_placeholder("Fx7-fake-Pa55-wq8z")


def test_the_assignment_prefilter_answers_as_a_case_insensitive_search() -> None:
    """The prefilter lowercases ASCII text and searches case-sensitively (nine times faster on a
    certificate): it must say yes exactly where the case-insensitive search does, and non-ASCII text
    (where re folds U+017F, U+0130, U+0131 and U+212A onto ASCII letters) takes the case-insensitive
    search itself."""
    import random

    from kubefort.analysis import secretscan as ss

    folded, _ = ss._assignment_prefilter()
    pieces = ["PassWord", "KEY", "Secret", "toKen", "sIgN", "api-Key", "DSN", "x", "=", ": ", "\u017fecret", "\u212aey"]
    rnd = random.Random(7)
    for _ in range(5000):
        text = "".join(rnd.choice(pieces + ["a", "B", "0", "-"]) for _ in range(rnd.randint(0, 6)))
        assert ss._may_assign(text) == (folded.search(text) is not None), text
    cert = "-----BEGIN CERTIFICATE-----\n" + "MIIDBTCCAe2gAwIBAgIIB" * 50 + "\n-----END CERTIFICATE-----\n"
    assert ss.find_assignments(cert) == []
    assert ss.find_assignments("DB_PASSWORD=hunter2hunter2") == [("DB_PASSWORD", ("sensitive name",))]
