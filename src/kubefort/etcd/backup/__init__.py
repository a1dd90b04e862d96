"""Encrypted, tamper-evident backups of etcd (and of exported Kubernetes objects).

- :mod:`.keys`: the key file (AES-256 encryption key + Ed25519 signing key).
- :mod:`.crypto`: the KFB1 chunked AES-256-GCM blob format.
- :mod:`.storage`: a local directory or an S3-compatible bucket.
- :mod:`.repo`: content-addressed blobs and the signed hash-chain manifest.
- :mod:`.ops`: create, list, verify, restore, drill, prune.

The formats are documented in ``docs/etcd.md``.
"""
