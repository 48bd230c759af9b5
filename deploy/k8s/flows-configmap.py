#!/usr/bin/env python3
"""Render the `ivr-flows` ConfigMap from a flows directory (Python 3 standard library only).

    deploy/k8s/flows-configmap.py flows/ | kubectl apply -n ivr -f -

Takes every top-level *.yaml / *.yml file (flows, queues, calendars, tables); the flow tests
under flows/tests/ are not needed at run time and ConfigMaps cannot hold folders. The output
is JSON, which kubectl reads like YAML. The ConfigMap is mounted as a directory, so applying
a new version reaches the engine's watcher (after the kubelet sync, about a minute) and a
broken edit is rejected by the engine while the old flows keep serving.
Run `ivr validate flows/` first. Exits 1 if there are no flow files or the total is over the
1 MiB ConfigMap limit.
"""

import hashlib
import json
import sys
from pathlib import Path

LIMIT = 1024 * 1024  # bytes of data a ConfigMap may hold (etcd object limit)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        print(f"no *.yaml files in {root}", file=sys.stderr)
        return 1
    data = {p.name: p.read_text(encoding="utf-8") for p in files}
    size = sum(len(v.encode("utf-8")) for v in data.values())
    if size > LIMIT:
        print(f"{size} bytes of flows exceed the ConfigMap limit of {LIMIT}", file=sys.stderr)
        return 1
    digest = hashlib.sha256()
    for name, text in sorted(data.items()):
        digest.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "ivr-flows",
            "labels": {"app.kubernetes.io/name": "ivr", "app.kubernetes.io/part-of": "ivr"},
            "annotations": {"ivr.example.com/flows-sha256": digest.hexdigest()},
        },
        "data": data,
    }
    json.dump(manifest, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    print(f"ivr-flows: {len(data)} files, {size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
