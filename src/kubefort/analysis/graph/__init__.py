"""The attack graph: exposure, pod-to-pod reachability, container escape, node credentials and RBAC
joined into one directed graph whose paths are attacks (docs/graph.md).

- :mod:`.model`: vertices, edges with their reasons (objects, rule IDs) and the changes that cut them.
- :mod:`.build`: :class:`~.build.AttackGraph` built from the NetworkPolicy and RBAC engines
  (:func:`~.build.graph_for` keeps one per inventory).
- :mod:`.search`: shortest paths (``networkx``) and the single changes that cut the most of them.
"""

from .build import AttackGraph, graph_for
from .model import ALL_NODES, ALL_SECRETS, CLUSTER_ADMIN, AttackPath, CutResult, Edge, Reason, Remedy, Vertex

__all__ = [
    "ALL_NODES",
    "ALL_SECRETS",
    "CLUSTER_ADMIN",
    "AttackGraph",
    "AttackPath",
    "CutResult",
    "Edge",
    "Reason",
    "Remedy",
    "Vertex",
    "graph_for",
]
