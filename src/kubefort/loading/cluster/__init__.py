"""Reading a live cluster (and snapshots of one) into the model: the cluster side of the loading layer.

It sits beside the file loader: both produce :class:`~kubefort.model.objects.K8sObject` s and an
:class:`~kubefort.model.inventory.Inventory`, and neither knows about rules. The caller
(:mod:`kubefort.api`) says which kinds to read. See docs/cluster.md.

- :func:`read_cluster` (:mod:`.reader`): connect with :class:`ClusterSource`, discover, list;
- :func:`save_snapshot` / :func:`load_snapshot` (:mod:`.snapshot`): the same :class:`ClusterRead` on disk;
- :mod:`.transport`: authentication through the official client, retries, rate limit, bounds;
- :mod:`.discovery`: aggregated discovery with the per-group fall-back.
"""

from .discovery import Discovery, ResourceType
from .reader import ClusterRead, ClusterSource, Progress, TypeList, Unreadable, read_cluster
from .snapshot import load_snapshot, save_snapshot
from .transport import ApiError, ClusterError

__all__ = [
    "ApiError",
    "ClusterError",
    "ClusterRead",
    "ClusterSource",
    "Discovery",
    "Progress",
    "ResourceType",
    "TypeList",
    "Unreadable",
    "load_snapshot",
    "read_cluster",
    "save_snapshot",
]
