"""An exec credential plugin (client.authentication.k8s.io/v1): prints an ExecCredential with the token
given as its argument, and counts its runs in the file named by KUBEAPI_EXEC_COUNT when set."""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
    count = os.environ.get("KUBEAPI_EXEC_COUNT")
    if count:
        with open(count, "a") as fh:
            fh.write("run\n")
    print(
        json.dumps(
            {
                "apiVersion": info.get("apiVersion", "client.authentication.k8s.io/v1"),
                "kind": "ExecCredential",
                "status": {"token": sys.argv[1], "expirationTimestamp": "2099-01-01T00:00:00Z"},
            }
        )
    )
