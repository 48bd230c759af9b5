#!/usr/bin/env python3
"""Structural checks of a provisioned Grafana dashboard JSON (Python 3 standard library only).

Grafana itself is not available offline, so this checks what makes a provisioned dashboard
load and behave: a fixed uid and title, a schemaVersion, unique panel ids, every panel on the
24-column grid without overlaps, every query panel bound to the `${datasource}` variable,
every `$variable` used in a query defined in templating, the required template variables
present, and the required subjects covered by some panel title.

Usage: dashboard_lint.py DASHBOARD.json [--require-var NAME ...] [--require-title TEXT ...]
Exits 1 on any problem.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BUILTIN_VARS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
                "__range_ms", "__all", "__dashboard", "__from", "__to", "__name", "__org",
                "__user", "__timeFilter"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard", type=Path)
    ap.add_argument("--require-var", action="append", default=[])
    ap.add_argument("--require-title", action="append", default=[],
                    help="a case-insensitive text some panel title must contain")
    args = ap.parse_args()

    problems: list[str] = []
    try:
        dash = json.loads(args.dashboard.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        print(f"FAIL {args.dashboard}: not readable JSON: {e}")
        return 1

    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in dash:
            problems.append(f"missing top-level {key!r}")
    if "id" in dash and dash["id"] is not None:
        problems.append("top-level 'id' must be null or absent in a provisioned dashboard")

    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    for name in args.require_var:
        if name not in variables:
            problems.append(f"template variable ${name} is missing")
    if "datasource" not in variables or variables["datasource"].get("type") != "datasource":
        problems.append("no datasource-type variable named 'datasource'")

    # Flatten panels (rows may nest collapsed panels).
    flat: list[dict] = []

    def walk(panels):
        for p in panels or []:
            flat.append(p)
            walk(p.get("panels"))

    walk(dash.get("panels"))
    ids = [p.get("id") for p in flat]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        problems.append(f"duplicate panel ids: {sorted(dupes)}")

    occupied: dict[tuple[int, int], str] = {}
    titles = []
    for p in flat:
        title = p.get("title", "")
        titles.append(title)
        where = f"panel {p.get('id')} {title!r}"
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"{where}: gridPos needs integer x, y, w, h")
            continue
        if gp["x"] < 0 or gp["w"] <= 0 or gp["x"] + gp["w"] > 24:
            problems.append(f"{where}: gridPos outside the 24-column grid")
        for x in range(gp["x"], gp["x"] + gp["w"]):
            for y in range(gp["y"], gp["y"] + gp["h"]):
                if (x, y) in occupied:
                    problems.append(f"{where}: overlaps {occupied[(x, y)]}")
                    break
                occupied[(x, y)] = where
            else:
                continue
            break
        if p.get("type") == "row":
            if p.get("repeat") and p["repeat"] not in variables:
                problems.append(f"{where}: repeats over undefined ${p['repeat']}")
            continue
        if not title:
            problems.append(f"{where}: no title")
        if not p.get("description"):
            problems.append(f"{where}: no description (say what the panel shows and from which metric)")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no queries")
        ds = p.get("datasource") or {}
        if ds.get("uid") != "${datasource}":
            problems.append(f"{where}: datasource must be the ${{datasource}} variable")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problems.append(f"{where}: duplicate refIds")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append(f"{where} {t.get('refId')}: query datasource must be ${{datasource}}")
            expr = t.get("expr", "")
            if not expr.strip():
                problems.append(f"{where} {t.get('refId')}: empty expr")
            for var in re.findall(r"\$\{?(\w+)", expr):
                if var not in variables and var not in BUILTIN_VARS:
                    problems.append(f"{where} {t.get('refId')}: uses undefined ${var}")
        for var in re.findall(r"\$\{?(\w+)", title):
            if var not in variables:
                problems.append(f"{where}: title uses undefined ${var}")

    for want in args.require_title:
        if not any(want.lower() in t.lower() for t in titles):
            problems.append(f"no panel title mentions {want!r}")

    print(f"dashboard {args.dashboard}: {len(flat)} panels, variables: "
          f"{', '.join('$' + n for n in variables)}")
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        return 1
    print("dashboard structure ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
