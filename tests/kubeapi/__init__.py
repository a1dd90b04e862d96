"""A test Kubernetes API server (see server.py) and its fixtures: how kubefort's live mode is tested."""
