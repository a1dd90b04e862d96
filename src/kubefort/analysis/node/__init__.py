"""The node model: Kubernetes components, their flags and config files, and the facts of a node's files.

- :mod:`.flags`: command lines parsed as the components parse them (catalogue legend 9), and the
  components found in pod-bearing objects (static pod manifests are Pods).
- :mod:`.snapshot`: the ``NodeSnapshot`` object (file modes and owners, certificates, the kubelet's
  flags and config file) and the kubelet's effective configuration.
- :mod:`.collect`: the audit loader that reads a node (or a copy of its files under ``--root``) and
  turns it into objects for the rule engine.
- :mod:`.versions`: the release table, version skew, component statuses and the upgrade plan.
- :mod:`.targets`: what each node rule is about (its ``applies=`` metadata), and which rules the
  node audit and ``kubefort versions`` run.
- :mod:`.results`: the kube-bench style per-check statuses, computed from the engine's report.
"""
