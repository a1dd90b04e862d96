"""RBAC analysis: Kubernetes RBAC authorizer semantics over an inventory of manifests or a cluster.

One model, used by ``kubefort rbac`` and by the KF-RBAC rules:

- :mod:`.policy`: one PolicyRule, how it matches a request, and how much of a (verb, resource) it covers.
- :mod:`.subjects`: users, groups, service accounts and their implicit groups.
- :mod:`.resources`: turning ``verb resource[.group][/sub]`` into request attributes; cluster scope.
- :mod:`.index`: :class:`~.index.RbacIndex` (``build``/``for_inventory``, ``who_can``, ``can``,
  ``permissions``, and the provenance of every rule and binding for the rules' messages), built once per
  inventory and kept by it.
- :mod:`.escalation`: the privilege-escalation graph built on an index, and its shortest paths
  (``escalation_paths``).
- :mod:`.bootstrap`: the default roles every cluster has.
"""
