"""Image reference parsing (catalogue legend 5) and the helpers the IMG rules build on it."""

from __future__ import annotations

import pytest

from kubefort.engine.rule import Severity
from kubefort.engine.runner import evaluate
from kubefort.model.images import is_valid_digest, parse_image
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import images as img

SHA256 = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
SHA512 = "sha512:" + "ab" * 64


@pytest.mark.parametrize(
    "ref, registry, explicit, repository, tag, digest",
    [
        # implicit Docker Hub: official images live under library/
        ("nginx", "docker.io", False, "library/nginx", None, None),
        ("nginx:1.25", "docker.io", False, "library/nginx", "1.25", None),
        ("bitnami/redis:7.2", "docker.io", False, "bitnami/redis", "7.2", None),
        # explicit Docker Hub and its aliases normalise to docker.io
        ("docker.io/library/nginx:1.25", "docker.io", True, "library/nginx", "1.25", None),
        ("docker.io/nginx", "docker.io", True, "library/nginx", None, None),
        ("index.docker.io/library/nginx", "docker.io", True, "library/nginx", None, None),
        ("Docker.IO/bitnami/redis", "docker.io", True, "bitnami/redis", None, None),
        # the first component is a host only with ".", ":" or "localhost"
        ("localhost/app", "localhost", True, "app", None, None),
        ("localhost:5000/app", "localhost:5000", True, "app", None, None),
        ("localhost:5000/team/app:1.0", "localhost:5000", True, "team/app", "1.0", None),
        ("myregistry:5000/app", "myregistry:5000", True, "app", None, None),
        ("gcr.io/acme/app:v2", "gcr.io", True, "acme/app", "v2", None),
        ("GCR.io/acme/app", "gcr.io", True, "acme/app", None, None),
        # a single component with a colon is name:tag on Docker Hub, not a registry
        ("localhost:5000", "docker.io", False, "library/localhost", "5000", None),
        ("acme/app", "docker.io", False, "acme/app", None, None),
        # a path component named like a tag is not a tag
        ("registry.example.com/latest/app", "registry.example.com", True, "latest/app", None, None),
        # digests with and without tags; the tag is taken before "@"
        (f"nginx@{SHA256}", "docker.io", False, "library/nginx", None, SHA256),
        (f"nginx:1.25@{SHA256}", "docker.io", False, "library/nginx", "1.25", SHA256),
        (f"localhost:5000/app:1.0@{SHA256}", "localhost:5000", True, "app", "1.0", SHA256),
        (f"localhost:5000/app@{SHA256}", "localhost:5000", True, "app", None, SHA256),
        # upper-case tag kept as written
        ("nginx:LATEST", "docker.io", False, "library/nginx", "LATEST", None),
        # surrounding whitespace is ignored
        ("  nginx:1.25 \n", "docker.io", False, "library/nginx", "1.25", None),
        # "name:" has an empty tag
        ("nginx:", "docker.io", False, "library/nginx", "", None),
    ],
)
def test_parse_image(
    ref: str, registry: str, explicit: bool, repository: str, tag: str | None, digest: str | None
) -> None:
    r = parse_image(ref)
    assert (r.registry, r.explicit_registry, r.repository, r.tag, r.digest) == (
        registry,
        explicit,
        repository,
        tag,
        digest,
    )
    assert r.raw == ref
    assert r.name == f"{registry}/{repository}"


@pytest.mark.parametrize(
    "digest, valid",
    [
        (SHA256, True),
        (SHA512, True),
        ("sha384:" + "0" * 96, True),
        ("sha256:" + "a" * 63, False),  # too short
        ("sha256:" + "a" * 65, False),  # too long
        ("sha256:" + "A" * 64, False),  # go-digest wants lower-case hex
        ("sha256:" + "g" * 64, False),
        ("sha512:" + "a" * 64, False),  # sha512 needs 128
        ("sha256:", False),
        ("sha256", False),
        ("", False),
        ("latest", False),
        ("blake3:" + "a" * 64, True),  # another <algo>:<hex> digest (catalogue)
        ("multihash+base58:" + "a" * 32, True),
        ("SHA256:" + "a" * 64, False),  # algorithms are lower case
        ("blake3:" + "a" * 31, False),
    ],
)
def test_digest_validity(digest: str, valid: bool) -> None:
    assert is_valid_digest(digest) is valid
    assert parse_image(f"registry.example.com/app@{digest}").has_valid_digest is valid


def test_no_digest_is_not_valid() -> None:
    assert parse_image("nginx:1.25").has_valid_digest is False


@pytest.mark.parametrize(
    "ref, reason",
    [
        ("nginx", "has no tag"),
        ("nginx:latest", 'uses the mutable tag "latest"'),
        ("nginx:LATEST", 'uses the mutable tag "LATEST"'),
        ("nginx:Latest", 'uses the mutable tag "Latest"'),
        ("nginx:", "has no tag"),
        ("localhost:5000/app", "has no tag"),
        ("nginx@sha256:abc", "has no tag and its digest is malformed"),
        ("nginx:1.25", None),
        ("nginx:latest-alpine", None),
        (f"nginx@{SHA256}", None),
        (f"nginx:latest@{SHA256}", None),
    ],
)
def test_mutable_tag_reason(ref: str, reason: str | None) -> None:
    assert img.mutable_tag_reason(parse_image(ref)) == reason


@pytest.mark.parametrize(
    "image, prefixes, covered",
    [
        ("gcr.io/acme/app:1", ["gcr.io/acme"], True),
        ("gcr.io/acme-evil/app:1", ["gcr.io/acme"], False),
        ("gcr.io/acme:1", ["gcr.io/acme"], True),
        ("gcr.io/acme/app", ["gcr.io/acme/"], True),
        ("nginx", ["docker.io"], True),
        ("nginx", ["index.docker.io"], True),
        ("nginx", ["docker.io/library"], True),
        ("bitnami/redis", ["docker.io/library"], False),
        ("docker.io.evil.com/x", ["docker.io"], False),
        ("Registry.Example.com/app", ["registry.example.com"], True),
        ("registry.example.com/app", ["https://REGISTRY.example.com/"], True),
        ("localhost:5000/app", ["localhost:5000"], True),
        ("localhost:5001/app", ["localhost:5000"], False),
        ("localhost/app", ["localhost:5000"], False),
        ("gcr.io/acme/app", [], False),
    ],
)
def test_registry_prefix_matching(image: str, prefixes: list[str], covered: bool) -> None:
    assert (img.covered(parse_image(image), img.registry_prefixes(prefixes)) is not None) is covered


def test_registry_prefixes_accepts_a_single_string_and_rejects_other_types() -> None:
    assert img.registry_prefixes("gcr.io/acme") == ["gcr.io/acme"]
    assert img.registry_prefixes(None) == []
    with pytest.raises(ValueError):
        img.registry_prefixes({"gcr.io": True})
    with pytest.raises(ValueError):
        img.registry_prefixes([42])


def test_required_tags_forms() -> None:
    assert img._required_tags(["nginx:1.25", "docker.io/library/nginx:1.26"]) == {
        "docker.io/library/nginx": {"1.25", "1.26"}
    }
    assert img._required_tags({"redis": "7.2", "gcr.io/acme/app": ["1", "2"]}) == {
        "docker.io/library/redis": {"7.2"},
        "gcr.io/acme/app": {"1", "2"},
    }
    assert img._required_tags(None) == {}
    with pytest.raises(ValueError):
        img._required_tags(["nginx"])


@pytest.mark.parametrize(
    "ref, is_dashboard",
    [
        ("kubernetesui/dashboard:v2.7.0", True),
        ("docker.io/kubernetesui/dashboard-api:1.4.1", True),
        ("k8s.gcr.io/kubernetes-dashboard-amd64:v1.10.1", True),
        ("registry.example.com/mirror/kubernetes-dashboard:v2.7.0", True),
        ("kubernetesui/metrics-scraper:v1.0.8", False),
        ("registry.example.com/ops/dashboard:1.0", False),
        ("grafana/grafana:10.4.2", False),
    ],
)
def test_dashboard_images(ref: str, is_dashboard: bool) -> None:
    assert img.is_dashboard_image(parse_image(ref)) is is_dashboard


# --- rule behaviour that fixtures cannot show (severities, parameter errors) ---------------------


def _pod(name: str, containers: list[dict[str, object]]) -> K8sObject:
    raw = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"containers": containers},
    }
    return K8sObject.from_raw(raw, Source(file="mem.yaml"))


def test_pull_policy_downgraded_to_info_when_always_pull_images_is_on() -> None:
    inv = Inventory([_pod("api", [{"name": "api", "image": "registry.example.com/api:1.0"}])])
    on = evaluate([img.image_pull_policy_not_always], inv, params={"always_pull_images_plugin": True})
    off = evaluate([img.image_pull_policy_not_always], inv)
    assert [f.severity for f in on.findings] == [Severity.INFO]
    assert [f.severity for f in off.findings] == [Severity.LOW]


def test_allow_list_rule_is_inactive_without_a_list() -> None:
    assert img.image_registry_not_allowed.meta.requires == "allowed_registries"
    inv = Inventory([_pod("web", [{"name": "web", "image": "nginx:1.25"}])])
    quiet = evaluate([img.image_registry_not_allowed], inv)
    assert quiet.findings == [] and sum(quiet.counts.values()) == 0
    assert any("KF-IMG-005 is inactive" in n for n in quiet.notes)
    rep = evaluate([img.image_registry_not_allowed], inv, params={"allowed_registries": ["gcr.io/acme"]})
    assert [f.path_str for f in rep.findings] == ["spec.containers[0].image"]


def test_allowed_registries_set_globally_also_exempts_from_the_block_list() -> None:
    inv = Inventory([_pod("web", [{"name": "web", "image": "ghcr.io/acme/web:1.0"}])])
    assert len(evaluate([img.image_public_registry], inv).findings) == 1
    assert evaluate([img.image_public_registry], inv, params={"allowed_registries": ["ghcr.io/acme"]}).findings == []


def test_invalid_image_has_its_own_subcode() -> None:
    inv = Inventory([_pod("x", [{"name": "a", "image": "  "}, {"name": "b", "image": ["nginx"]}])])
    rep = evaluate([img.image_mutable_tag], inv)
    assert [(f.subcode, f.path_str) for f in rep.findings] == [
        ("invalid_image", "spec.containers[0].image"),
        ("invalid_image", "spec.containers[1].image"),
    ]
    # the other rules have nothing to judge
    for r in img.RULES[1:]:
        assert evaluate([r], inv, params={"allowed_registries": ["gcr.io"]}).findings == [], r.meta.id


def test_bad_required_tags_is_a_rule_error_not_a_pass() -> None:
    inv = Inventory([_pod("web", [{"name": "web", "image": "nginx:1.25"}])])
    rep = evaluate([img.image_mutable_tag], inv, params={"required_tags": ["nginx"]})
    assert rep.rule_errors


def _raw(kind: str, name: str, body: dict[str, object]) -> K8sObject:
    api = "apps/v1" if kind == "Deployment" else "v1"
    raw = {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "kube-system"}, **body}
    return K8sObject.from_raw(raw, Source(file="mem.yaml"))


def test_tiller_index_is_kept_by_the_inventory_and_follows_it() -> None:
    """The per-inventory index of KF-IMG-008 lives in the inventory (no module-level cache): a second
    inventory, or an object added to the first, is seen."""
    svc = _raw("Service", "deploy-svc", {"spec": {"selector": {"role": "deployer"}, "ports": [{"port": 44134}]}})
    tiller = _raw(
        "Deployment",
        "deployer",
        {
            "spec": {
                "selector": {"matchLabels": {"role": "deployer"}},
                "template": {
                    "metadata": {"labels": {"role": "deployer"}},
                    "spec": {"containers": [{"name": "t", "image": "gcr.io/kubernetes-helm/tiller:v2.16.1"}]},
                },
            }
        },
    )

    def service_findings(inv: Inventory) -> list[str]:
        return [str(f.object) for f in evaluate([img.helm_tiller], inv).findings if f.object.kind == "Service"]

    inv = Inventory([svc])
    assert service_findings(inv) == []
    inv.add(tiller)  # the inventory drops what it derived from its objects
    assert len(service_findings(inv)) == 1
    assert service_findings(Inventory([svc])) == []
    assert not hasattr(img, "_INVENTORY_CACHE")
