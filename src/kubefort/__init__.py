"""kubefort: Kubernetes security checks in one tool.

The public API: :func:`scan` with :class:`ScanOptions` returns a :class:`Report`.
"""

__version__ = "0.1.0"

from .api import ScanOptions, scan, scan_inventory
from .engine.findings import Finding, Report, Status
from .engine.rule import Severity
from .model.inventory import Inventory
from .model.objects import K8sObject, ObjectRef

__all__ = [
    "Finding",
    "Inventory",
    "K8sObject",
    "ObjectRef",
    "Report",
    "ScanOptions",
    "Severity",
    "Status",
    "__version__",
    "scan",
    "scan_inventory",
]
