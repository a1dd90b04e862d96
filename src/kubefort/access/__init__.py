"""Access kits for people (``kubefort access``): a key, a CertificateSigningRequest, the least-privilege
Role and RoleBinding and a kubeconfig template. See docs/access.md.

Kubernetes has no user objects: a person is whoever presents a client certificate the cluster's CA
signed (CN = user name, O = groups), and RBAC bindings give that name its rights. A certificate cannot
be revoked before it expires, so kits are short-lived by default and the rights live in bindings that
can be deleted.
"""
