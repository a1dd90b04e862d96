"""Analyses shared by rules, the live-cluster scan and the admission webhook (secret detection, ...)."""
