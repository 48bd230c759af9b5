#!/usr/bin/env bash
# End to end with a real Prometheus: start `ivr serve` on loopback with the shipped flows and
# prompts, start Prometheus (Debian package `prometheus`, installed when missing) scraping the
# engine's /metrics every second with the shipped alert rules loaded, put simulated callers in
# the general queue, then through Prometheus's HTTP API:
#   * up{job="ivr"} == 1 and every shipped rule evaluates without error;
#   * ivr_queue_depth shows the waiting callers, per priority class;
#   * IvrCallersWaitingNoAgentReady goes pending for that queue (callers, no agents);
#   * `promtool check metrics` on a live scrape of /metrics (taken while callers wait) prints
#     nothing, and every metric, label and label value the rules and the Grafana dashboard
#     name is in that scrape (deploy/checks/promql_names.py --scrape);
#   * simulated agents log in and answer everyone: ivr_queue_depth falls back to 0 and
#     ivr_queue_left_total{result="answered"} counts every caller;
# and finally SIGTERM drains the engine, which must exit 0, and the call-record file holds
# exactly one record per call, each answered by an agent. The rule unit tests
# (`promtool test rules`) are .ci/deploy-checks.sh's job and are not repeated here.
#
# Usage: .ci/prometheus-e2e.sh
# Environment:
#   IVR_BIN          engine binary (default: target/debug/ivr, built first with
#                    `cargo build --locked`, a no-op when CI's earlier steps built it)
#   IVR_E2E_KEEP=1   keep the temp dir (logs, scrape, Prometheus config and data)
# Needs python3 (standard library only); every HTTP call goes through deploy/checks/prom_api.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

EMERGENCY_CALLERS=3 # keys 1 1 2: Mandarin, security menu, frozen funds -> general/emergency
NORMAL_CALLERS=2    # keys 1 0: Mandarin, main menu "agent" -> general/normal
DEPTH_TIMEOUT=60    # seconds for the callers to show in Prometheus
DRAIN_TIMEOUT=30    # seconds for the engine to exit after SIGTERM

start=$(date +%s)
step() { echo; echo "== $1 ($(( $(date +%s) - start )) s)"; }
say() { echo "   $*"; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ivr-prom-e2e.XXXXXX")"
PIDS=()         # every process this script started, killed on exit
LOGS_SHOWN=0
PY=python3
API=(python3 "$ROOT/deploy/checks/prom_api.py")

show_logs() {
    [ "$LOGS_SHOWN" = 1 ] && return 0
    LOGS_SHOWN=1
    local f
    for f in "$TMP"/*.log; do
        [ -s "$f" ] || continue
        echo
        echo "---- last lines of $(basename "$f") ----"
        tail -n 25 "$f" | sed 's/\x1b\[[0-9;]*m//g'
    done
}

fail() {
    echo
    echo "!! FAILED: $*" >&2
    show_logs
    exit 1
}

cleanup() {
    local rc=$? pid i
    trap - EXIT
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in $(seq 1 30); do
        local any=0
        for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
            kill -0 "$pid" 2>/dev/null && any=1
        done
        [ "$any" = 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        show_logs
        echo "!! prometheus e2e failed after $(( $(date +%s) - start )) s" >&2
    fi
    if [ "${IVR_E2E_KEEP:-}" = 1 ]; then
        echo "kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apt_install() { # apt_install PACKAGE...: install from Debian if we may (as deploy-checks does)
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo="sudo -n"
    fi
    echo "installing from Debian: $*"
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

alive() { kill -0 "$1" 2>/dev/null; }

check_scrape() { # check_scrape NAME: save /metrics as NAME.metrics, lint it, check names against it
    local file="$TMP/$1.metrics" out="$TMP/$1.promtool" rc=0
    "${API[@]}" fetch "http://$ADMIN/metrics" "$file" || fail "GET http://$ADMIN/metrics"
    say "$(grep -c '^# TYPE' "$file") metric families, $(grep -vc '^#' "$file") samples"
    promtool check metrics < "$file" > "$out" 2>&1 || rc=$?
    if [ "$rc" != 0 ] || [ -s "$out" ]; then
        echo "promtool check metrics (exit $rc):"
        sed 's/^/    /' "$out"
        fail "promtool check metrics found problems in the engine's /metrics ($1)"
    fi
    say "promtool check metrics: clean"
    # The same names check .ci/deploy-checks.sh runs against the catalogue source, here
    # against what the engine really serves.
    "$PY" deploy/checks/promql_names.py --scrape "$file" \
        --rules deploy/prometheus/alerts.yml --rules-test deploy/prometheus/alerts_test.yml \
        --dashboard deploy/grafana/dashboards/ivr.json > "$TMP/$1.names" 2>&1 \
        || { sed 's/^/    /' "$TMP/$1.names"; fail "rules or dashboard name series the engine does not serve ($1)"; }
    say "$(tail -n 1 "$TMP/$1.names")"
}

# --- tools -------------------------------------------------------------------------------
step "tools"
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    apt_install prometheus || true
fi
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    fail "prometheus and promtool are missing and could not be installed (Debian package: prometheus)"
fi
command -v "$PY" >/dev/null 2>&1 || fail "python3 is missing"
say "$(prometheus --version 2>&1 | head -1)"
say "$(promtool --version 2>&1 | head -1)"
if [ -n "${IVR_BIN:-}" ]; then
    IVR="$IVR_BIN"
else
    IVR="$ROOT/target/debug/ivr"
    cargo build --locked --quiet --bin ivr || fail "cargo build --locked failed"
fi
[ -x "$IVR" ] || fail "no engine binary at $IVR"
say "engine: $IVR ($("$IVR" version 2>&1 | head -1))"
say "temp dir: $TMP"

mapfile -t PORTS < <("${API[@]}" ports 3)
[ "${#PORTS[@]}" = 3 ] || fail "could not pick three free loopback ports"
MEDIA="127.0.0.1:${PORTS[0]}"
ADMIN="127.0.0.1:${PORTS[1]}"
PROM="127.0.0.1:${PORTS[2]}"

# --- the engine --------------------------------------------------------------------------
step "ivr serve: media $MEDIA, admin $ADMIN"
CDR="$TMP/calls.sqlite"
RUST_LOG=info NO_COLOR=1 "$IVR" serve --cdr "$CDR" \
    --media-listen "$MEDIA" --admin-listen "$ADMIN" \
    --flows "$ROOT/flows" --prompts "$ROOT/audio-prompts" \
    --no-watch --drain-grace 3s > "$TMP/serve.log" 2>&1 &
IVR_PID=$!
PIDS+=("$IVR_PID")
"${API[@]}" wait "http://$ADMIN/readyz" --pid "$IVR_PID" --timeout 30 \
    || fail "the engine did not become ready on http://$ADMIN/readyz"
say "ready (pid $IVR_PID)"

# --- Prometheus --------------------------------------------------------------------------
step "prometheus: $PROM scraping http://$ADMIN/metrics every 1 s, deploy/prometheus/alerts.yml loaded"
cat > "$TMP/prometheus.yml" <<EOF
# Generated by .ci/prometheus-e2e.sh: the shipped rules, the engine on a free loopback port.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: ivr
    metrics_path: /metrics
    static_configs:
      - targets: ["$ADMIN"]
EOF
promtool check config "$TMP/prometheus.yml" > "$TMP/promtool-config.out" 2>&1 \
    || { cat "$TMP/promtool-config.out"; fail "promtool check config on the generated config"; }
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="$PROM" --log.level=warn \
    > "$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=("$PROM_PID")
WATCH=(--pid "$IVR_PID" --pid "$PROM_PID") # polls stop early when either has died
"${API[@]}" wait "http://$PROM/-/ready" --pid "$PROM_PID" --timeout 30 \
    || fail "Prometheus did not become ready on http://$PROM/-/ready"
say "ready (pid $PROM_PID)"
"${API[@]}" until "${WATCH[@]}" "http://$PROM" 'up{job="ivr"}' --op eq --value 1 --timeout 15 \
    || fail "Prometheus does not see the engine up"
"${API[@]}" rules "http://$PROM" || fail "a shipped rule does not evaluate in Prometheus"

# --- load: callers waiting in the general queue, no agents logged in ---------------------
step "load: $EMERGENCY_CALLERS emergency and $NORMAL_CALLERS normal callers join the general queue (no agents)"
# The general queue has join_without_agents: true, so callers wait; linger and max duration
# are long enough that nobody leaves before the agents come.
dial() { # dial NAME KEYS
    "$IVR" dial 95017 --url "ws://$MEDIA" --keys "$2" --linger 120s --max-duration 150s \
        > "$TMP/dial-$1.log" 2>&1 &
    PIDS+=("$!")
    DIALERS+=("$!")
}
DIALERS=()
for i in $(seq 1 "$EMERGENCY_CALLERS"); do dial "emergency-$i" "1 1 2"; done
for i in $(seq 1 "$NORMAL_CALLERS"); do dial "normal-$i" "1 0"; done
TOTAL=$(( EMERGENCY_CALLERS + NORMAL_CALLERS ))
say "$TOTAL callers dialling (pids ${DIALERS[*]})"

step "Prometheus API: ivr_queue_depth > 0"
"${API[@]}" until "${WATCH[@]}" "http://$PROM" 'ivr_queue_depth' --op gt --value 0 --timeout "$DEPTH_TIMEOUT" \
    || fail "ivr_queue_depth never rose above 0 in Prometheus"
step "Prometheus API: every caller counted in its class"
"${API[@]}" until "${WATCH[@]}" "http://$PROM" 'sum by (queue, class) (ivr_queue_depth{queue="general",class="emergency"})' \
    --op eq --value "$EMERGENCY_CALLERS" --timeout 30 \
    || fail "general/emergency depth is not $EMERGENCY_CALLERS"
"${API[@]}" until "${WATCH[@]}" "http://$PROM" 'sum by (queue, class) (ivr_queue_depth{queue="general",class="normal"})' \
    --op eq --value "$NORMAL_CALLERS" --timeout 10 \
    || fail "general/normal depth is not $NORMAL_CALLERS"

step "live scrape while callers wait: promtool check metrics, metric names of rules and dashboard"
check_scrape waiting
step "Prometheus API: IvrCallersWaitingNoAgentReady pending for queue general"
"${API[@]}" alert "${WATCH[@]}" "http://$PROM" IvrCallersWaitingNoAgentReady --state pending \
    --label queue=general --timeout 15 \
    || fail "the shipped alert did not notice callers waiting with no agent"

# --- agents answer everyone --------------------------------------------------------------
step "agents: 2 simulated agents log in to general and answer everyone"
"$IVR" agents --url "http://$ADMIN" --count 2 --queues general \
    --answer-after 0s --talk 1s --for 90s > "$TMP/agents.log" 2>&1 &
AGENTS_PID=$!
PIDS+=("$AGENTS_PID")
"${API[@]}" until "${WATCH[@]}" "http://$PROM" 'sum(ivr_queue_depth)' --op eq --value 0 --timeout 45 \
    || fail "the queue did not empty with agents answering"
"${API[@]}" until "${WATCH[@]}" "http://$PROM" 'sum(ivr_queue_left_total{queue="general",result="answered"})' \
    --op eq --value "$TOTAL" --timeout 10 \
    || fail "not every caller left the general queue as answered"

# --- stop --------------------------------------------------------------------------------
step "stop: agents, callers, then SIGTERM drains the engine"
kill -TERM "$AGENTS_PID" 2>/dev/null || true
for pid in "${DIALERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
kill -TERM "$IVR_PID"
for _ in $(seq 1 $(( DRAIN_TIMEOUT * 10 ))); do
    alive "$IVR_PID" || break
    sleep 0.1
done
alive "$IVR_PID" && fail "the engine did not exit within $DRAIN_TIMEOUT s of SIGTERM"
ivr_rc=0
wait "$IVR_PID" || ivr_rc=$?
[ "$ivr_rc" = 0 ] || fail "the engine exited $ivr_rc after SIGTERM (want 0 after a drain)"
say "engine drained and exited 0"
kill -TERM "$PROM_PID" 2>/dev/null || true
wait "$PROM_PID" 2>/dev/null || true

step "call records: one per call, every caller answered"
"$IVR" cdr export --db "$CDR" --format json > "$TMP/cdr.json" 2> "$TMP/cdr.log" \
    || fail "ivr cdr export --db $CDR"
"$PY" - "$TMP/cdr.json" "$EMERGENCY_CALLERS" "$NORMAL_CALLERS" <<'PYEOF' || fail "call records do not match the calls made"
import collections, json, sys
rows = json.load(open(sys.argv[1]))
want = {"emergency": int(sys.argv[2]), "normal": int(sys.argv[3])}
got = collections.Counter(r.get("priority") for r in rows)
bad = [r["call_id"] for r in rows if r.get("queue") != "general" or r.get("outcome") != "agent"]
ids = [r["call_id"] for r in rows]
print(f"   {len(rows)} records, by class {dict(got)}, outcomes {dict(collections.Counter(r.get('outcome') for r in rows))}")
if dict(got) != want or bad or len(set(ids)) != len(ids):
    print(f"   want {want}, all queue general and outcome agent, one per call; off: {bad}")
    sys.exit(1)
PYEOF

step "prometheus e2e passed"
