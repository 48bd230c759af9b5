#!/usr/bin/env python3
"""Small HTTP and Prometheus-API client for .ci/prometheus-e2e.sh (no curl needed).

Subcommands (every timeout in seconds; exit 0 on success, 1 on a failed check, 2 on bad use):

  ports N                         print N free loopback TCP ports, one a line
  wait URL [--timeout]            poll URL until it answers 200
  fetch URL OUT                   save URL's body to OUT; fail unless the answer is 200
  until BASE EXPR --op OP --value V [--timeout]
                                  poll Prometheus at BASE with the instant query EXPR until the
                                  sum of its sample values is OP (lt, gt, ge, eq) V; print the
                                  series seen (or, on timeout, the last answer)
  alert BASE NAME --state S [--label K=V] [--timeout]
                                  poll /api/v1/alerts until alert NAME is in state S (pending
                                  or firing; firing also satisfies pending) with those labels
  rules BASE                      every rule Prometheus loaded evaluates without error

wait, until and alert take --pid P (repeatable) and fail at once when process P has exited.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """GET url; (status, body). Connection errors give status 0 and the error text."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


def alive(pid: int | None) -> bool:
    """Whether process pid still runs (None: no process to watch)."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited but is still in the table until its parent reaps it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def dead(pids: list[int]) -> int | None:
    """The first of pids that no longer runs, if any."""
    return next((p for p in pids if not alive(p)), None)


def cmd_ports(args: argparse.Namespace) -> int:
    socks = []
    for _ in range(args.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
        s.close()
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    status, body = 0, b""
    while time.monotonic() < deadline:
        if dead(args.pid):
            print(f"process {dead(args.pid)} exited before {args.url} answered", file=sys.stderr)
            return 1
        status, body = http_get(args.url)
        if status == 200:
            return 0
        time.sleep(0.2)
    print(f"{args.url} did not answer 200 within {args.timeout:g} s "
          f"(last: {status} {body[:200].decode(errors='replace')})", file=sys.stderr)
    return 1


def cmd_fetch(args: argparse.Namespace) -> int:
    status, body = http_get(args.url)
    with open(args.out, "wb") as f:
        f.write(body)
    if status != 200:
        print(f"GET {args.url}: {status} {body[:200].decode(errors='replace')}", file=sys.stderr)
        return 1
    return 0


def api(base: str, path: str, params: dict[str, str] | None = None) -> dict:
    url = base.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    status, body = http_get(url)
    if status == 0:
        raise RuntimeError(f"GET {url}: {body.decode(errors='replace')}")
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise RuntimeError(f"GET {url}: {status} {doc.get('errorType')}: {doc.get('error')}")
    return doc["data"]


def series_line(sample: dict) -> str:
    labels = sample["metric"]
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}} {sample['value'][1]}"


OPS = {
    "lt": (lambda a, b: a < b, "<"),
    "gt": (lambda a, b: a > b, ">"),
    "ge": (lambda a, b: a >= b, ">="),
    "eq": (lambda a, b: a == b, "=="),
}


def cmd_until(args: argparse.Namespace) -> int:
    test, sign = OPS[args.op]
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    last: list[dict] | str = []
    while True:
        try:
            data = api(args.base, "/api/v1/query", {"query": args.expr})
            if data["resultType"] != "vector":
                print(f"{args.expr}: expected an instant vector, got {data['resultType']}",
                      file=sys.stderr)
                return 2
            last = data["result"]
            total = sum(float(s["value"][1]) for s in last)
            if last and test(total, args.value):
                print(f"after {time.monotonic() - started:.1f} s: sum = {total:g} {sign} "
                      f"{args.value:g}, {len(last)} series:")
                for s in last:
                    print("    " + series_line(s))
                return 0
        except (RuntimeError, ValueError, KeyError) as e:
            last = str(e)
        if dead(args.pid):
            print(f"process {dead(args.pid)} exited while waiting for sum({args.expr}) {sign} "
                  f"{args.value:g}", file=sys.stderr)
            return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    print(f"timed out after {args.timeout:g} s waiting for sum({args.expr}) {sign} "
          f"{args.value:g}; last answer:", file=sys.stderr)
    if isinstance(last, str):
        print("    " + last, file=sys.stderr)
    elif not last:
        print("    (no series)", file=sys.stderr)
    for s in last if isinstance(last, list) else []:
        print("    " + series_line(s), file=sys.stderr)
    return 1


def cmd_alert(args: argparse.Namespace) -> int:
    want = dict(kv.split("=", 1) for kv in args.label)
    states = {"pending": {"pending", "firing"}, "firing": {"firing"}}[args.state]
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    seen: list[dict] = []
    while True:
        try:
            seen = [a for a in api(args.base, "/api/v1/alerts")["alerts"]
                    if a["labels"].get("alertname") == args.name]
        except (RuntimeError, ValueError, KeyError) as e:
            print(f"    {e}", file=sys.stderr)
        for a in seen:
            if a["state"] in states and all(a["labels"].get(k) == v for k, v in want.items()):
                labels = ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
                print(f"after {time.monotonic() - started:.1f} s: {args.name} is {a['state']} "
                      f"({labels}; value {a.get('value')})")
                return 0
        if dead(args.pid):
            print(f"process {dead(args.pid)} exited while waiting for {args.name}",
                  file=sys.stderr)
            return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    print(f"timed out after {args.timeout:g} s waiting for {args.name} {args.state} with "
          f"{want}; alerts of that name: {json.dumps(seen) if seen else 'none'}",
          file=sys.stderr)
    return 1


def cmd_rules(args: argparse.Namespace) -> int:
    try:
        groups = api(args.base, "/api/v1/rules")["groups"]
    except (RuntimeError, ValueError, KeyError) as e:
        print(e, file=sys.stderr)
        return 1
    rules = [(g["name"], r) for g in groups for r in g["rules"]]
    bad = [(g, r) for g, r in rules if r.get("health") not in ("ok", "unknown") or r.get("lastError")]
    for g, r in bad:
        print(f"rule {g}/{r['name']}: health {r.get('health')}: {r.get('lastError')}",
              file=sys.stderr)
    alerts = sum(1 for _, r in rules if r["type"] == "alerting")
    print(f"{len(groups)} groups, {len(rules)} rules ({alerts} alerts), "
          f"{len(rules) - len(bad)} evaluating without error")
    return 1 if bad or not rules else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ports")
    s.add_argument("n", type=int)
    s.set_defaults(fn=cmd_ports)
    s = sub.add_parser("wait")
    s.add_argument("url")
    s.add_argument("--pid", type=int, action="append", default=[])
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_wait)
    s = sub.add_parser("fetch")
    s.add_argument("url")
    s.add_argument("out")
    s.set_defaults(fn=cmd_fetch)
    s = sub.add_parser("until")
    s.add_argument("base")
    s.add_argument("expr")
    s.add_argument("--op", choices=sorted(OPS), required=True)
    s.add_argument("--value", type=float, required=True)
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--interval", type=float, default=0.5)
    s.add_argument("--pid", type=int, action="append", default=[])
    s.set_defaults(fn=cmd_until)
    s = sub.add_parser("alert")
    s.add_argument("base")
    s.add_argument("name")
    s.add_argument("--state", choices=["pending", "firing"], required=True)
    s.add_argument("--label", action="append", default=[])
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--pid", type=int, action="append", default=[])
    s.set_defaults(fn=cmd_alert)
    s = sub.add_parser("rules")
    s.add_argument("base")
    s.set_defaults(fn=cmd_rules)
    args = p.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
