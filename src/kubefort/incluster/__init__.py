"""kubefort running inside a cluster: the manifests that deploy it (``kubefort deploy manifests``) and
the ``kubefort watch`` application (list once, watch, re-evaluate what changed, keep the reports
current, serve ``/metrics`` and ``/healthz``). See docs/cluster.md.

An application, like the admission webhook: it sits above the reporters (it formats the reports it
writes) and below the CLI, which only parses its options (import-linter layers in pyproject.toml).
"""
