"""``kubefort admission ...`` (the validating webhook) and ``kubefort policy export``."""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

import click

from ..errors import UsageError


def _split(values: tuple[str, ...]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _policy(
    config: str | None,
    policy_file: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    fail_on: str | None,
) -> Any:
    from ..admission.config import AdmissionPolicy, load_policy

    data = load_policy(policy_file) if policy_file else None
    return AdmissionPolicy.build(
        config_path=config,
        rules=_split(rules),
        skip_rules=_split(skip_rules),
        fail_on=fail_on,
        policy=data,
        policy_path=policy_file,
    )


_SEVERITIES = click.Choice(["info", "low", "medium", "high", "critical"])


def _policy_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option(
                "--config",
                type=click.Path(dir_okay=False),
                default=None,
                help="The kubefort config (.kubefort.yaml) shared with 'kubefort scan': rules, params, exceptions.",
            ),
            click.option(
                "--policy",
                "policy_file",
                type=click.Path(dir_okay=False),
                default=None,
                help="Admission policy file: modes per rule set, exemptions (see docs/admission.md).",
            ),
            click.option("--rules", "rules", multiple=True, metavar="IDS", help="Only these rules (comma-separated)."),
            click.option("--skip-rules", multiple=True, metavar="IDS", help="Not these rules (comma-separated)."),
            click.option(
                "--fail-on",
                type=_SEVERITIES,
                default=None,
                help="Findings at or above this severity deny; lower ones are warnings.  [default: high]",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


@click.group("admission")
def admission_group() -> None:
    """The validating admission webhook: the same rules as 'kubefort scan', enforced by the API server.

    \b
    Examples:
      kubefort admission certs --service kubefort-admission --namespace kubefort-system --out certs/
      kubefort admission manifests --ca-bundle certs/ca-bundle.b64 > webhook.yaml
      kubefort admission serve --cert certs/tls.crt --key certs/tls.key
      kubefort admission rules                   rules evaluated at admission, and those skipped
    """


@admission_group.command("serve")
@click.option("--cert", required=True, type=click.Path(dir_okay=False), help="Serving certificate (PEM).")
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="Its private key (PEM).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="HTTPS port.")
@click.option(
    "--max-body",
    default=3 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1024),
    help="Largest request body in bytes; larger ones get 413 before parsing.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Server log level (stderr); the audit log always goes to stdout.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (one core each); each keeps its own metrics. In a cluster, prefer replicas.",
)
@_policy_options
def serve_cmd(
    cert: str,
    key: str,
    host: str,
    port: int,
    max_body: int,
    log_level: str,
    workers: int,
    config: str | None,
    policy_file: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    fail_on: str | None,
) -> None:
    """Serve the webhook over HTTPS (TLS 1.2+): /validate, /healthz, /readyz, /metrics.

    One JSON line per decision is written to stdout (the audit log).
    """
    import ssl

    from ..admission.server import make_server

    for what, path in (("--cert", cert), ("--key", key)):
        if not os.path.isfile(path):
            raise UsageError(f"{what} {path}: no such file")
    policy = _policy(config, policy_file, rules, skip_rules, fail_on)
    try:
        server = make_server(policy, cert=cert, key=key, host=host, port=port, max_body=max_body, log_level=log_level)
    except ssl.SSLError as e:
        raise UsageError(f"cannot load the certificate and key: {e.reason or e}") from None
    click.echo(
        f"kubefort admission: {len(policy.rules)} rules at admission ({len(policy.skipped)} skipped), "
        f"deny at {policy.fail_on.label} and above; listening on https://{host}:{port}"
        f"{f' with {workers} workers' if workers > 1 else ''}",
        err=True,
    )
    if workers > 1:
        from ..admission.server import serve_workers

        settings = {
            "cert": os.path.abspath(cert),
            "key": os.path.abspath(key),
            "config": config and os.path.abspath(config),
            "policy": policy_file and os.path.abspath(policy_file),
            "rules": _split(rules),
            "skip_rules": _split(skip_rules),
            "fail_on": fail_on,
            "max_body": max_body,
        }
        serve_workers(settings, workers=workers, host=host, port=port, log_level=log_level)
        return
    server.run()


@admission_group.command("rules")
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_policy_options
def rules_cmd(
    fmt: str,
    config: str | None,
    policy_file: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    fail_on: str | None,
) -> None:
    """The rules the webhook evaluates (with their mode) and the ones it skips, with the reason."""
    policy = _policy(config, policy_file, rules, skip_rules, fail_on)
    evaluated = []
    for r in policy.rules:
        mode, threshold = policy.mode_for(r.meta.id)
        evaluated.append(
            {
                "id": r.meta.id,
                "title": r.meta.title,
                "severity": r.meta.severity.label,
                "mode": mode.value,
                "denies_from": threshold.label if mode.value == "enforce" else None,
                # kinds judged only by scans: the rule needs other objects for them
                "not_on_kinds": sorted(r.meta.cross_object_kinds or ()),
            }
        )
    skipped = [{"id": m.id, "title": m.title, "severity": m.severity.label, "reason": why} for m, why in policy.skipped]
    if fmt == "json":
        click.echo(json.dumps({"fail_on": policy.fail_on.label, "evaluated": evaluated, "skipped": skipped}, indent=2))
        return
    click.echo(f"Evaluated at admission ({len(evaluated)}): findings at or above the threshold deny, lower ones warn.")
    for e in evaluated:
        extra = f"deny from {e['denies_from']}" if e["denies_from"] else e["mode"]
        partly = f" (not on {', '.join(e['not_on_kinds'])}: needs other objects)" if e["not_on_kinds"] else ""
        click.echo(f"  {e['id']:<12} {e['severity']:<8} {extra:<18} {e['title']}{partly}")
    click.echo(f"\nSkipped at admission ({len(skipped)}): 'kubefort scan' reports them.")
    for s in skipped:
        click.echo(f"  {s['id']:<12} {s['severity']:<8} {s['title']}\n  {'':<12} {s['reason']}")


@admission_group.command("review")
@click.argument("file", type=click.File("r"), default="-")
@_policy_options
def review_cmd(
    file: IO[str],
    config: str | None,
    policy_file: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    fail_on: str | None,
) -> None:
    """Answer one AdmissionReview (JSON, from FILE or stdin) as the webhook would, without a server.

    Exit code 0 when allowed, 1 when denied, 2 for a request the webhook would refuse.
    """
    from ..admission.review import ReviewError, review

    policy = _policy(config, policy_file, rules, skip_rules, fail_on)
    try:
        data = json.load(file)
    except json.JSONDecodeError as e:
        raise UsageError(f"not valid JSON: {e.msg} at line {e.lineno}") from None
    try:
        resp = review(data, policy)
    except ReviewError as e:
        raise UsageError(str(e)) from None
    click.echo(json.dumps(resp, indent=2))
    sys.exit(0 if resp["response"]["allowed"] else 1)


@admission_group.command("certs")
@click.option("--service", required=True, help="The webhook Service name.")
@click.option("--namespace", required=True, help="Its namespace.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write to.")
@click.option(
    "--days", default=365, show_default=True, type=click.IntRange(1, 3650), help="Serving certificate validity."
)
@click.option("--dns", "extra_dns", multiple=True, help="Extra DNS name for the certificate (repeatable).")
@click.option("--ip", "ips", multiple=True, help="Extra IP address for the certificate (repeatable).")
def certs_cmd(
    service: str, namespace: str, out_dir: str, days: int, extra_dns: tuple[str, ...], ips: tuple[str, ...]
) -> None:
    """A private CA and a serving certificate for SERVICE.NAMESPACE.svc, plus the caBundle.

    Writes ca.crt, ca.key, tls.crt, tls.key (keys mode 0600) and ca-bundle.b64 (the
    base64 CA for the ValidatingWebhookConfiguration's clientConfig.caBundle).
    """
    import ipaddress

    from ..admission import certs

    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise UsageError(f"--ip {ip!r}: not an IP address") from None
    issued = certs.issue(service, namespace, days=days, extra_dns=extra_dns, ip_addresses=ips)
    paths = certs.write(issued, out_dir)
    for _name, path in paths.items():
        click.echo(f"wrote {path}")
    click.echo(f"SANs: {', '.join(certs.service_dns_names(service, namespace) + list(extra_dns) + list(ips))}")
    click.echo(
        f"next: kubectl -n {namespace} create secret tls <secret> --cert {paths['tls.crt']} --key {paths['tls.key']}"
    )


@admission_group.command("manifests")
@click.option("--namespace", default="kubefort-system", show_default=True)
@click.option("--service", default="kubefort-admission", show_default=True)
@click.option("--image", default=None, help="The kubefort image (REPO:TAG or REPO@sha256:DIGEST).")
@click.option(
    "--ca-bundle",
    "ca_bundle",
    type=click.Path(dir_okay=False),
    default=None,
    help="File with the base64 CA bundle (ca-bundle.b64 from 'kubefort admission certs').",
)
@click.option(
    "--cert-manager-issuer",
    default=None,
    help="Let cert-manager issue the certificate with this Issuer and inject the caBundle.",
)
@click.option(
    "--failure-policy",
    type=click.Choice(["Fail", "Ignore"]),
    default="Fail",
    show_default=True,
    help="What the API server does when the webhook cannot answer: Fail (deny, the default) or Ignore.",
)
@click.option("--timeout", "timeout_seconds", default=5, show_default=True, type=click.IntRange(1, 30))
@click.option("--output", type=click.File("w"), default=None, help="Write to this file instead of stdout.")
@_policy_options
def manifests_cmd(
    namespace: str,
    service: str,
    image: str | None,
    ca_bundle: str | None,
    cert_manager_issuer: str | None,
    failure_policy: str,
    timeout_seconds: int,
    output: IO[str] | None,
    config: str | None,
    policy_file: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    fail_on: str | None,
) -> None:
    """Namespace, ServiceAccount, Deployment, Service, PodDisruptionBudget, NetworkPolicies and the
    ValidatingWebhookConfiguration of the webhook (the TLS Secret is created separately)."""
    from ..admission import manifests

    if ca_bundle and cert_manager_issuer:
        raise UsageError("--ca-bundle and --cert-manager-issuer are exclusive")
    bundle = None
    if ca_bundle:
        try:
            with open(ca_bundle, encoding="ascii") as fh:
                bundle = fh.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(
                f"--ca-bundle {ca_bundle}: {getattr(e, 'strerror', None) or 'not a base64 text file'}"
            ) from None
    policy = _policy(config, policy_file, rules, skip_rules, fail_on)
    opts = manifests.ManifestOptions(
        namespace=namespace,
        service=service,
        image=image or manifests.DEFAULT_IMAGE,
        ca_bundle=bundle,
        failure_policy=failure_policy,
        timeout_seconds=timeout_seconds,
        cert_manager_issuer=cert_manager_issuer,
        fail_on=fail_on,
    )
    (output or sys.stdout).write(manifests.render(manifests.build(policy.rules, opts)))


@click.group("policy")
def policy_group() -> None:
    """Export kubefort rules as native admission policies (ValidatingAdmissionPolicy, Kyverno)."""


@policy_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["vap", "kyverno"]),
    required=True,
    help="vap: ValidatingAdmissionPolicy + binding (CEL); kyverno: Kyverno ClusterPolicy.",
)
@click.option(
    "--rules", "rules", multiple=True, metavar="IDS", help="Only these rules (comma-separated; default: all)."
)
@click.option(
    "--action",
    type=click.Choice(["deny", "warn", "audit"]),
    default="deny",
    show_default=True,
    help="What the policies do on a violation (VAP validationActions / Kyverno failureAction).",
)
@click.option("--output", type=click.File("w"), default=None, help="Write the YAML to this file instead of stdout.")
def export_cmd(fmt: str, rules: tuple[str, ...], action: str, output: IO[str] | None) -> None:
    """Write policies for every selected rule that the format can express; list the others on stderr."""
    from ..admission import policy_export
    from ..rules import default_registry

    registry = default_registry()
    selected = registry.resolve(_split(rules)) if rules else [r for r in registry if r.meta.enabled]
    result = policy_export.export(selected, fmt, action=action)
    (output or sys.stdout).write(result.yaml)
    click.echo(
        f"kubefort: exported {len(result.exported)} rule(s) as {fmt}: {', '.join(result.exported) or 'none'}", err=True
    )
    if result.unsupported:
        click.echo(f"kubefort: {len(result.unsupported)} rule(s) cannot be expressed as {fmt}:", err=True)
        for rid, why in result.unsupported:
            click.echo(f"  {rid}: {why}", err=True)
