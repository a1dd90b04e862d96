"""RBAC analysis: Kubernetes RBAC authorizer semantics over an inventory of manifests or a cluster."""
