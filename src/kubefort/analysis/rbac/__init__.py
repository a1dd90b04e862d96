"""RBAC analysis: Kubernetes RBAC authorizer semantics over an inventory of manifests or a cluster.

- :mod:`.policy`: one PolicyRule and how it matches a request.
- :mod:`.subjects`: users, groups, service accounts and their implicit groups.
- :mod:`.resources`: turning ``verb resource[.group][/sub]`` into request attributes.
- :mod:`.index`: :class:`~.index.RbacIndex` (``build``, ``who_can``, ``can``, ``permissions``,
  ``escalation_paths``), built once per inventory.
- :mod:`.escalation`: the privilege-escalation graph and its shortest paths.
- :mod:`.bootstrap`: the default roles every cluster has.
"""
