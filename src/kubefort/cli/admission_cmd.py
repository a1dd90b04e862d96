"""``kubefort admission ...``: the validating webhook (serve, rules, review, certs, manifests)."""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..reporters import admission as report
from .options import split_values

if TYPE_CHECKING:
    from ..admission.config import AdmissionPolicy


def _policy(
    config: str | None,
    policy_file: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    fail_on: str | None,
) -> AdmissionPolicy:
    from ..admission.config import AdmissionPolicy  # on use: the rule catalogue is not needed for --help

    return AdmissionPolicy.from_files(
        config_path=config,
        policy_path=policy_file,
        rules=split_values(rules),
        skip_rules=split_values(skip_rules),
        fail_on=fail_on,
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
        report.serving(
            rules=len(policy.rules),
            skipped=len(policy.skipped),
            fail_on=policy.fail_on.label,
            host=host,
            port=port,
            workers=workers,
        ),
        err=True,
    )
    if workers > 1:
        from ..admission.server import serve_workers, worker_settings

        settings = worker_settings(
            cert=cert,
            key=key,
            config=config,
            policy=policy_file,
            rules=split_values(rules),
            skip_rules=split_values(skip_rules),
            fail_on=fail_on,
            max_body=max_body,
        )
        serve_workers(settings, workers=workers, host=host, port=port, log_level=log_level)
        return
    server.run()


@admission_group.command("rules")
@click.option("-o", "--format", "fmt", type=click.Choice(report.RULES_FORMATS), default="table", show_default=True)
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
    report.write_rules(_policy(config, policy_file, rules, skip_rules, fail_on).listing(), fmt, sys.stdout)


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
    from ..admission.review import ReviewError, parse_review, review

    policy = _policy(config, policy_file, rules, skip_rules, fail_on)
    try:
        resp = review(parse_review(file.read()), policy)
    except ReviewError as e:
        raise UsageError(str(e)) from None
    report.write_review(resp, sys.stdout)
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
    for line in report.certs_written(paths, certs.requested_names(service, namespace, extra_dns, ips), namespace):
        click.echo(line)


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
            bundle = manifests.read_ca_bundle(ca_bundle)
        except ValueError as e:
            raise UsageError(f"--ca-bundle {ca_bundle}: {e}") from None
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
