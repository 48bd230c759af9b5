#!/usr/bin/env bash
# Checks of deploy/: Prometheus config and alert rules (promtool check + unit tests), every
# PromQL expression in the rules and the Grafana dashboard against the engine's metric
# catalogue, the dashboard's structure, docker-compose, the Kubernetes manifests, the systemd
# unit and the Dockerfile. Installs what it needs from Debian when missing (promtool comes in
# the `prometheus` package). Exits non-zero on any failure and says what it checked.
#
# Usage: .ci/deploy-checks.sh [--scrape FILE]
#   --scrape FILE  also check the expressions against a live /metrics response saved in FILE
#                  (the catalogue source src/telemetry/metrics.rs is always used when present)
# Environment: IVR_METRICS_RS overrides the catalogue source path.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

SCRAPE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scrape) SCRAPE="${2:?--scrape needs a file}"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

FAILED=()
PASSED=()
SKIPPED=()
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

step() { echo; echo "== $1"; }
run() { # run NAME COMMAND...: record the outcome, keep going
    local name="$1"; shift
    if "$@"; then PASSED+=("$name"); else FAILED+=("$name"); echo "!! FAILED: $name"; fi
}
skip() { SKIPPED+=("$1: $2"); echo "-- skipped: $1 ($2)"; }

apt_install() { # apt_install PACKAGE...: install from Debian if we may
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo="sudo -n"
    fi
    echo "installing from Debian: $*"
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- tools -------------------------------------------------------------------------------
step "tools"
if ! command -v promtool >/dev/null 2>&1; then
    apt_install prometheus || true
fi
if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool is missing and could not be installed (Debian package: prometheus)" >&2
    exit 1
fi
promtool --version 2>&1 | head -1
PY=python3
YAML_PY=""
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
        YAML_PY="$candidate"; break
    fi
done
if [ -z "$YAML_PY" ]; then
    apt_install python3-yaml || true
    /usr/bin/python3 -c 'import yaml' 2>/dev/null && YAML_PY=/usr/bin/python3
fi
echo "python: $($PY --version 2>&1); PyYAML: ${YAML_PY:-none}"

# --- Prometheus --------------------------------------------------------------------------
step "promtool check config (deploy/prometheus/*.yml scrape configs)"
for cfg in deploy/prometheus/prometheus.yml deploy/prometheus/prometheus-local.yml; do
    run "promtool check config $cfg" promtool check config "$cfg"
done

step "promtool check rules deploy/prometheus/alerts.yml"
run "promtool check rules" promtool check rules deploy/prometheus/alerts.yml

step "promtool test rules deploy/prometheus/alerts_test.yml"
run "promtool test rules" promtool test rules deploy/prometheus/alerts_test.yml

step "every alert has for:, severity, summary and description, and a test"
check_alert_fields() {
    "$PY" - deploy/prometheus/alerts.yml deploy/prometheus/alerts_test.yml <<'EOF'
import re, sys
rules = open(sys.argv[1]).read()
tests = open(sys.argv[2]).read()
blocks = re.split(r"\n\s*- alert: ", rules)[1:]
bad = 0
for b in blocks:
    name = b.split()[0]
    body = b.split("\n      - ", 1)[0]
    missing = [k for k in ("for:", "severity:", "summary:", "description:") if k not in body]
    fires = re.search(r"alertname: " + name + r"\n\s+exp_alerts:\n\s+- exp_labels", tests)
    quiet = re.search(r"alertname: " + name + r"\n\s+exp_alerts: \[\]", tests)
    if missing or not fires or not quiet:
        bad += 1
        print(f"FAIL {name}: missing {missing or ''} {'' if fires else 'no firing test '}{'' if quiet else 'no quiet test'}")
    else:
        print(f"ok   {name}: for/severity/summary/description, a firing and a quiet test")
print(f"{len(blocks)} alerts")
sys.exit(1 if bad or not blocks else 0)
EOF
}
run "alert fields and tests" check_alert_fields

# --- metric names ------------------------------------------------------------------------
step "PromQL in rules, rule tests and the dashboard names only catalogue metrics"
METRICS_RS="${IVR_METRICS_RS:-src/telemetry/metrics.rs}"
NAME_ARGS=(--rules deploy/prometheus/alerts.yml --rules-test deploy/prometheus/alerts_test.yml
           --dashboard deploy/grafana/dashboards/ivr.json)
if [ -f "$METRICS_RS" ]; then
    run "metric names vs $METRICS_RS" "$PY" deploy/checks/promql_names.py --catalogue "$METRICS_RS" "${NAME_ARGS[@]}"
elif [ -z "$SCRAPE" ]; then
    echo "no metric catalogue: $METRICS_RS is missing and no --scrape FILE was given" >&2
    FAILED+=("metric names: no catalogue")
fi
if [ -n "$SCRAPE" ]; then
    run "metric names vs live scrape $SCRAPE" "$PY" deploy/checks/promql_names.py --scrape "$SCRAPE" "${NAME_ARGS[@]}"
    step "promtool check metrics $SCRAPE"
    run "promtool check metrics" sh -c 'promtool check metrics < "$1"' _ "$SCRAPE"
fi

# --- Grafana -----------------------------------------------------------------------------
step "Grafana dashboard structure and required panels"
run "dashboard structure" "$PY" deploy/checks/dashboard_lint.py deploy/grafana/dashboards/ivr.json \
    --require-var queue --require-var line \
    --require-title "queue depth by priority class" --require-title "longest wait" \
    --require-title "service level" --require-title "abandon rate" \
    --require-title "agents by state" --require-title "calls in the IVR by node" \
    --require-title "calls active by line" --require-title "DTMF digits by source" \
    --require-title "menu failures" --require-title "protocol errors" \
    --require-title "flow reload" --require-title "frame handling p99"
check_provisioning() {
    local ok=0 f
    for f in deploy/grafana/provisioning/datasources/*.yaml deploy/grafana/provisioning/dashboards/*.yaml; do
        if [ -n "$YAML_PY" ]; then
            "$YAML_PY" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert d["apiVersion"] == 1, "apiVersion"' "$f" \
                && echo "ok   $f" || { echo "FAIL $f"; ok=1; }
        fi
    done
    # the dashboard's datasource variable defaults to the provisioned uid
    grep -q "uid: prom-ivr" deploy/grafana/provisioning/datasources/prometheus.yaml \
        && grep -q '"value": "prom-ivr"' deploy/grafana/dashboards/ivr.json \
        && echo "ok   dashboard defaults to the provisioned data source uid prom-ivr" \
        || { echo "FAIL datasource uid mismatch"; ok=1; }
    return $ok
}
run "grafana provisioning" check_provisioning

# --- docker-compose ----------------------------------------------------------------------
step "docker compose config (deploy/docker-compose.yml)"
COMPOSE=()
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    apt_install docker-compose || true
    command -v docker-compose >/dev/null 2>&1 && COMPOSE=(docker-compose)
fi
if [ ${#COMPOSE[@]} -gt 0 ]; then
    echo "using: ${COMPOSE[*]} ($("${COMPOSE[@]}" version 2>/dev/null | head -1))"
    # Required secrets get placeholder values: only the file's validity is checked here.
    run "compose config" env IVR_PATH_TOKEN=check-only GRAFANA_ADMIN_PASSWORD=check-only \
        "${COMPOSE[@]}" -p ivr -f deploy/docker-compose.yml config -q
else
    skip "compose config" "neither docker compose nor docker-compose available"
fi

# --- Kubernetes --------------------------------------------------------------------------
step "Kubernetes manifests (kubectl kustomize deploy/k8s)"
K8S_RENDERED=""
if command -v kubectl >/dev/null 2>&1; then
    if kubectl kustomize deploy/k8s > "$TMP/k8s.yaml"; then
        PASSED+=("kustomize build"); K8S_RENDERED="$TMP/k8s.yaml"
        echo "rendered: $(grep -c '^kind:' "$TMP/k8s.yaml") objects ($(grep '^kind:' "$TMP/k8s.yaml" | awk '{print $2}' | sort | tr '\n' ' '))"
    else
        FAILED+=("kustomize build")
    fi
else
    skip "kustomize build" "kubectl not installed; checking the files directly"
fi
check_flows_configmap() {
    if ! ls flows/*.yaml >/dev/null 2>&1; then
        echo "flows/ has no flow files yet: nothing to render"; return 0
    fi
    "$PY" deploy/k8s/flows-configmap.py flows > "$TMP/flows-cm.json" \
        && "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["kind"]=="ConfigMap" and d["metadata"]["name"]=="ivr-flows" and d["data"]; print("ok   ivr-flows ConfigMap renders:", len(d["data"]), "files")' "$TMP/flows-cm.json"
}
run "flows ConfigMap renders" check_flows_configmap

# --- cross-checks (k8s, compose, systemd, Dockerfile) ------------------------------------
step "deployment cross-checks: drain grace vs stop timeouts, probes, ports, users"
if [ -n "$YAML_PY" ]; then
    if [ -n "$K8S_RENDERED" ]; then
        run "deployment cross-checks" "$YAML_PY" deploy/checks/manifests.py deploy --k8s-rendered "$K8S_RENDERED"
    else
        run "deployment cross-checks" "$YAML_PY" deploy/checks/manifests.py deploy
    fi
else
    skip "deployment cross-checks" "PyYAML (python3-yaml) not available"
fi

step "systemd-analyze verify deploy/systemd/ivr.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    # The binary is not installed here: point the unit at /bin/true to check everything else.
    sed 's|/usr/local/bin/ivr|/bin/true|g' deploy/systemd/ivr.service > "$TMP/ivr.service"
    verify_unit() {
        local out
        out="$(systemd-analyze verify "$TMP/ivr.service" 2>&1)"
        [ -z "$out" ] && echo "ok   unit verifies cleanly" && return 0
        echo "$out"; return 1
    }
    run "systemd-analyze verify" verify_unit
else
    skip "systemd-analyze verify" "systemd-analyze not installed"
fi

# --- shell scripts -----------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
    step "shellcheck .ci/deploy-checks.sh .ci/prometheus-e2e.sh"
    run "shellcheck" shellcheck -S warning .ci/deploy-checks.sh .ci/prometheus-e2e.sh
fi

# --- summary -----------------------------------------------------------------------------
echo
echo "== deploy checks: ${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped"
for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do echo "   skipped: $s"; done
for f in "${FAILED[@]+"${FAILED[@]}"}"; do echo "   FAILED:  $f"; done
[ ${#FAILED[@]} -eq 0 ]
