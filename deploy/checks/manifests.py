#!/usr/bin/env python3
"""Cross-checks of the deployment files: the promises each one makes hold together.

Needs PyYAML (Debian: python3-yaml). Usage:
    manifests.py DEPLOY_DIR [--k8s-rendered FILE]
where FILE is `kubectl kustomize DEPLOY_DIR/k8s` output (without it the k8s/*.yaml files are
read directly). Checks:
  * the drain grace in config/ivr.yaml fits every stop timeout: Kubernetes
    terminationGracePeriodSeconds >= preStop + drain + 30 s, compose stop_grace_period and
    systemd TimeoutStopSec >= drain + 30 s;
  * Kubernetes: readiness on /readyz and liveness on /livez of the admin port, a preStop hook,
    non-root, flows from a ConfigMap mounted as a directory, a PodDisruptionBudget selecting
    the pods, no Service or Ingress exposing the admin port outside the cluster, the media
    Service carrying only the media port;
  * compose: the admin port is never published, Prometheus and Grafana get their files;
  * systemd: SIGTERM stop, SIGHUP reload, ProtectSystem=strict, a state directory, no root;
  * Dockerfile: multi-stage rust -> debian slim, --locked, non-root USER, HEALTHCHECK through
    `ivr healthcheck`, STOPSIGNAL SIGTERM, EXPOSE of both ports.
Prints each check; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

MEDIA_PORT, ADMIN_PORT = 8080, 9091
MARGIN = 30  # seconds after the drain for flushing records and exiting

results: list[tuple[bool, str]] = []


def ok(cond: bool, what: str) -> bool:
    results.append((bool(cond), what))
    return bool(cond)


def seconds(text: str) -> int:
    """'14m', '90s', '1h', '15min', '900' -> seconds."""
    total = 0
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    for num, unit in re.findall(r"(\d+)\s*(ms|sec|min|hr|s|m|h)", text):
        total += int(num) * units[unit]
    if total == 0:
        raise ValueError(f"cannot read duration {text!r}")
    return int(total)


def check_k8s(docs: list[dict], drain: int) -> None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        if d:
            by_kind.setdefault(d.get("kind"), []).append(d)
    workloads = by_kind.get("StatefulSet", []) + by_kind.get("Deployment", [])
    if not ok(len(workloads) == 1, "k8s: exactly one engine workload (StatefulSet/Deployment)"):
        return
    w = workloads[0]
    pod = w["spec"]["template"]
    labels = pod["metadata"].get("labels", {})
    spec = pod["spec"]
    c = spec["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    ok(ports.get("media") == MEDIA_PORT and ports.get("admin") == ADMIN_PORT,
       f"k8s: container ports media={MEDIA_PORT}, admin={ADMIN_PORT}")
    args = " ".join(c.get("args", []))
    ok(f"--admin-listen 0.0.0.0:{ADMIN_PORT}" in args and f"--media-listen 0.0.0.0:{MEDIA_PORT}" in args,
       "k8s: engine args listen on the declared ports")
    rp, lp = c.get("readinessProbe", {}).get("httpGet", {}), c.get("livenessProbe", {}).get("httpGet", {})
    ok(rp.get("path") == "/readyz" and rp.get("port") in ("admin", ADMIN_PORT), "k8s: readiness probe is /readyz on the admin port")
    ok(c.get("readinessProbe", {}).get("failureThreshold") == 1, "k8s: readiness fails on the first failed probe (drain stops new calls at once)")
    ok(lp.get("path") == "/livez" and lp.get("port") in ("admin", ADMIN_PORT), "k8s: liveness probe is /livez on the admin port")
    pre = c.get("lifecycle", {}).get("preStop", {})
    pre_s = 0
    if "sleep" in pre:
        pre_s = int(pre["sleep"]["seconds"])
    elif "exec" in pre:
        m = re.search(r"sleep\s+(\d+)", " ".join(pre["exec"]["command"]))
        pre_s = int(m.group(1)) if m else 0
    ok(pre_s > 0, f"k8s: preStop hook waits ({pre_s} s) before SIGTERM starts the drain")
    grace = int(spec.get("terminationGracePeriodSeconds", 30))
    ok(grace >= pre_s + drain + MARGIN,
       f"k8s: terminationGracePeriodSeconds {grace} >= preStop {pre_s} + drain {drain} + {MARGIN}")
    sc = spec.get("securityContext", {})
    csc = c.get("securityContext", {})
    ok(sc.get("runAsNonRoot") is True and int(sc.get("runAsUser", 0)) != 0, "k8s: pod runs as non-root")
    ok(csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True,
       "k8s: no privilege escalation, read-only root filesystem")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    flows_mounts = [m for m in c.get("volumeMounts", []) if m.get("mountPath") == "/etc/ivr/flows"]
    fm = flows_mounts[0] if flows_mounts else {}
    ok(fm and "configMap" in vols.get(fm.get("name"), {}) and "subPath" not in fm,
       "k8s: flows come from a ConfigMap mounted as a directory (no subPath, so edits reach the watcher)")
    data_mounted = any(m.get("mountPath") == "/var/lib/ivr" for m in c.get("volumeMounts", []))
    pvc = [t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])]
    ok(data_mounted and ("data" in pvc or any("persistentVolumeClaim" in v for v in vols.values())),
       "k8s: call records on a persistent volume at /var/lib/ivr")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    ok(any(all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items()) for p in pdbs),
       "k8s: a PodDisruptionBudget selects the engine pods")
    admin_services = []
    for s in by_kind.get("Service", []):
        targets = {str(p.get("targetPort")) for p in s["spec"]["ports"]} | {str(p.get("port")) for p in s["spec"]["ports"]}
        exposes_admin = "admin" in targets or str(ADMIN_PORT) in targets
        name = s["metadata"]["name"]
        if exposes_admin:
            admin_services.append(name)
            ok(s["spec"].get("type", "ClusterIP") == "ClusterIP",
               f"k8s: Service {name} with the admin port is cluster-internal (ClusterIP)")
            ok(s["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true",
               f"k8s: Service {name} is annotated for Prometheus scraping")
        else:
            ok(targets <= {"media", str(MEDIA_PORT), "80", "443"},
               f"k8s: Service {name} carries only the media port")
    ok(admin_services, "k8s: a separate Service exposes the admin port inside the cluster")
    for ing in by_kind.get("Ingress", []):
        backends = re.findall(r"'service': \{'name': '([^']+)'", str(ing["spec"]))
        ok(not set(backends) & set(admin_services),
           f"k8s: Ingress {ing['metadata']['name']} routes no admin Service")
    ok(pod["metadata"].get("annotations", {}).get("prometheus.io/port") == str(ADMIN_PORT),
       "k8s: pods annotated with the admin port for scraping")


def check_compose(path: Path, drain: int) -> None:
    doc = yaml.safe_load(path.read_text())
    svc = doc.get("services", {})
    ivr = svc.get("ivr", {})
    ok({"ivr", "prometheus", "grafana"} <= set(svc), "compose: engine, Prometheus and Grafana services")
    published = " ".join(str(p) for p in ivr.get("ports", []))
    ok(str(ADMIN_PORT) not in published, "compose: the admin port is not published")
    ok(str(MEDIA_PORT) in published, "compose: the media port is published")
    ok(seconds(ivr.get("stop_grace_period", "10s")) >= drain + MARGIN,
       f"compose: stop_grace_period {ivr.get('stop_grace_period')} >= drain {drain} s + {MARGIN}")
    ok(ivr.get("build", {}).get("dockerfile") == "deploy/Dockerfile", "compose: engine built from deploy/Dockerfile")
    prom_vols = " ".join(svc.get("prometheus", {}).get("volumes", []))
    graf_vols = " ".join(svc.get("grafana", {}).get("volumes", []))
    ok("/etc/prometheus" in prom_vols, "compose: Prometheus gets prometheus.yml and alerts.yml")
    ok("/etc/grafana/provisioning" in graf_vols and "dashboards" in graf_vols,
       "compose: Grafana gets its provisioning and dashboards")


def check_systemd(path: Path, drain: int) -> None:
    unit: dict[str, list[str]] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        m = re.match(r"^(\w+)=(.*)$", line.strip())
        if m:
            unit.setdefault(m.group(1), []).append(m.group(2).strip())

    def one(key):
        return (unit.get(key) or [""])[-1]

    ok(one("KillSignal") == "SIGTERM", "systemd: KillSignal=SIGTERM starts the drain")
    ok(seconds(one("TimeoutStopSec") or "90s") >= drain + MARGIN,
       f"systemd: TimeoutStopSec={one('TimeoutStopSec')} >= drain {drain} s + {MARGIN}")
    ok("-HUP" in one("ExecReload") and "$MAINPID" in one("ExecReload"), "systemd: ExecReload sends SIGHUP (flow reload)")
    ok(one("ProtectSystem") == "strict", "systemd: ProtectSystem=strict")
    ok(one("StateDirectory") != "" and "/var/lib/ivr/" in one("ExecStart"),
       "systemd: StateDirectory holds the SQLite call records")
    ok(one("DynamicUser") == "yes" or one("User") not in ("", "root"), "systemd: runs as a dynamic or dedicated user")
    ok(one("NoNewPrivileges") == "yes" and one("CapabilityBoundingSet") == "", "systemd: no new privileges, no capabilities")


def check_dockerfile(path: Path) -> None:
    text = path.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))

    def expand(s):
        return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s)

    froms = [expand(f) for f in froms]
    ok(len(froms) >= 2 and froms[0].startswith("rust:") and froms[0].endswith("-bookworm"),
       f"Dockerfile: build stage on rust:*-bookworm ({froms[0] if froms else '-'})")
    ok(froms and froms[-1] == "debian:bookworm-slim", f"Dockerfile: runtime on debian:bookworm-slim ({froms[-1] if froms else '-'})")
    ok("cargo build --release --locked" in text, "Dockerfile: release build with --locked")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    ok(users and users[-1].split(":")[0] not in ("0", "root"), f"Dockerfile: runs as non-root USER {users[-1] if users else '-'}")
    hc = re.search(r"^HEALTHCHECK.*?CMD\s+(\[.*?\])", text, re.M | re.S)
    ok(hc and '"healthcheck"' in hc.group(1) and "/livez" in hc.group(1), "Dockerfile: HEALTHCHECK runs `ivr healthcheck` on /livez")
    ok(re.search(r"^STOPSIGNAL\s+SIGTERM", text, re.M), "Dockerfile: STOPSIGNAL SIGTERM")
    ok(re.search(rf"^EXPOSE\s+{MEDIA_PORT}\s+{ADMIN_PORT}", text, re.M), f"Dockerfile: EXPOSE {MEDIA_PORT} {ADMIN_PORT}")
    ok(re.search(r"^ENTRYPOINT\s+\[", text, re.M), "Dockerfile: exec-form ENTRYPOINT (the engine is PID 1)")
    ok("flows" in text and "audio-prompts" in text, "Dockerfile: flows/ and audio-prompts/ copied in")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("deploy", type=Path)
    ap.add_argument("--k8s-rendered", type=Path)
    a = ap.parse_args()
    config = yaml.safe_load((a.deploy / "config" / "ivr.yaml").read_text())
    drain = seconds(config["drain_grace"])
    print(f"drain_grace from config/ivr.yaml: {drain} s")
    if a.k8s_rendered:
        docs = list(yaml.safe_load_all(a.k8s_rendered.read_text()))
    else:
        docs = []
        for f in sorted((a.deploy / "k8s").glob("*.yaml")):
            if f.name != "kustomization.yaml":
                docs += list(yaml.safe_load_all(f.read_text()))
    check_k8s(docs, drain)
    check_compose(a.deploy / "docker-compose.yml", drain)
    check_systemd(a.deploy / "systemd" / "ivr.service", drain)
    check_dockerfile(a.deploy / "Dockerfile")
    for good, what in results:
        print(f"{'ok  ' if good else 'FAIL'} {what}")
    failed = sum(1 for good, _ in results if not good)
    print(f"{len(results) - failed}/{len(results)} deployment checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
