"""etcd: what is stored (encryption at rest, read from the stored bytes), how etcd answers clients (TLS,
client certificates, auth) and encrypted, signed backups of it.

- :mod:`.client` talks to etcd's v3 JSON gateway with httpx (no gRPC/protobuf dependency).
- :mod:`.classify` tells how a stored value is protected, from its prefix, without any key.
- :mod:`.probe` asks an endpoint the questions an attacker would (plain HTTP? no certificate? a
  certificate of another CA?) and has the answers judged through the scanning API (``kubefort.api``),
  by the ETCD rules whose live checks are in ``rules/etcd_live.py``.
- :mod:`.server` runs a throw-away local etcd (offline snapshot reading, restore drills, tests).
- :mod:`.backup` makes encrypted, content-addressed backups in a signed hash-chain repository.
"""
