"""NetworkPolicy reachability: which workloads (and CIDRs) can talk to which, on which ports, and why.

See :mod:`kubefort.analysis.netpol.engine` for the semantics and docs/netpol.md for the commands.
"""

from .engine import External, NetpolEngine, Verdict, engine_for
from .model import NetpolRule, Policy, Workload, effective_policy_types
from .sets import ALL_PORTS, NO_PORTS, AddrSet, PortSet, parse_port_query

__all__ = [
    "ALL_PORTS",
    "NO_PORTS",
    "AddrSet",
    "External",
    "NetpolEngine",
    "NetpolRule",
    "Policy",
    "PortSet",
    "Verdict",
    "Workload",
    "effective_policy_types",
    "engine_for",
    "parse_port_query",
]
