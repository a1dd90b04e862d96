"""kubefort: Kubernetes security checks in one tool.

The public API: :func:`scan` with :class:`ScanOptions` returns a :class:`Report`.
"""

__version__ = "0.1.0"

from .api import ScanOptions, scan, scan_inventory  # noqa: E402
from .engine.findings import Finding, Report, Status  # noqa: E402
from .engine.rule import Severity  # noqa: E402
from .model.inventory import Inventory  # noqa: E402
from .model.objects import K8sObject, ObjectRef  # noqa: E402

__all__ = ["Finding", "Inventory", "K8sObject", "ObjectRef", "Report", "ScanOptions", "Severity", "Status", "scan", "scan_inventory", "__version__"]
