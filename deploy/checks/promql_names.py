#!/usr/bin/env python3
"""Check that every PromQL expression we ship names only metrics the engine exports.

The truth is the engine's metric catalogue: either the Rust source that builds it
(src/telemetry/metrics.rs, `--catalogue`) or a live scrape of /metrics (`--scrape`).
Expressions come from Prometheus rule files (`--rules`), promtool test files (`--rules-test`,
their input series) and Grafana dashboards (`--dashboard`: panel targets and templating
queries).

For every selector it checks:
  * the metric name exists (histogram `_bucket`/`_sum`/`_count` series included; names
    recorded by the rule files and Prometheus' own `up` are allowed);
  * the label names in `{...}` belong to that metric (plus `job`/`instance`, and `le` on
    buckets), and labels in `by (...)`/`on (...)` exist on some metric;
  * plain label values (`state="ready"`, `result=~"answered|abandoned"`) are in the closed
    set the catalogue declares for that label, when it declares one;
  * every function or aggregation name is a PromQL one (catches typos).

Python 3 standard library only. Prints what it checked; exits 1 on any problem, 2 on bad use.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}

# PromQL functions and aggregation operators (Prometheus 2.x/3.x).
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "cos", "cosh", "count", "count_over_time", "count_values", "day_of_month", "day_of_week",
    "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor", "group",
    "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta",
    "increase", "irate", "label_join", "label_replace", "last_over_time", "limitk",
    "limit_ratio", "ln", "log10", "log2", "mad_over_time", "max", "max_over_time", "min",
    "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin",
    "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "stddev",
    "stddev_over_time", "stdvar", "stdvar_over_time", "sum", "sum_over_time", "tan", "tanh",
    "time", "timestamp", "topk", "vector", "year",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}
GROUPING = r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"

# Which closed value set (as named in metrics.rs) belongs to which metric label.
VALUE_SETS = {
    ("ivr_calls_total", "outcome"): "const:CALL_OUTCOMES",
    ("ivr_dtmf_digits_total", "source"): "const:DIGIT_SOURCES",
    ("ivr_prompt_playbacks_total", "result"): "const:PLAYBACK_RESULTS",
    ("ivr_handshakes_rejected_total", "reason"): "const:HANDSHAKE_REASONS",
    ("ivr_agents", "state"): "const:AGENT_STATES",
    ("ivr_menu_failures_total", "kind"): "const:MENU_FAILURES",
    ("ivr_queue_left_total", "result"): "const:QUEUE_RESULTS",
    ("ivr_protocol_errors_total", "kind"): "enum:ProtocolErrorKind",
    ("ivr_protocol_errors_total", "dialect"): "const:DIALECTS",
    ("ivr_flow_reloads_total", "result"): "loop:flow_reloads_total",
    ("ivr_cdr_writes_total", "result"): "loop:cdr_writes_total",
}


@dataclass
class Metric:
    name: str
    kind: str  # counter | gauge | histogram | untyped
    labels: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)  # closed label-value sets


@dataclass
class Catalogue:
    metrics: dict[str, Metric]
    source: str
    warnings: list[str] = field(default_factory=list)

    def all_labels(self) -> set[str]:
        out = set(TARGET_LABELS) | {"le"}
        for m in self.metrics.values():
            out |= m.labels
        return out

    def resolve(self, name: str) -> tuple[Metric | None, str]:
        """The catalogue metric behind a series name, and the series suffix."""
        if name in self.metrics:
            return self.metrics[name], ""
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and self.metrics.get(base, None) is not None:
                if self.metrics[base].kind == "histogram":
                    return self.metrics[base], suffix
        return None, ""


def _strs(text: str) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', text)


def load_rust_catalogue(path: Path) -> Catalogue:
    src = path.read_text(encoding="utf-8")
    metrics: dict[str, Metric] = {}
    help_re = r'"(?:[^"\\]|\\.)*"'
    # counter(&r, "name", "help", &["a", "b"]) and the gauge/histogram helpers
    for m in re.finditer(
        r"\b(counter|gauge|histogram)\(\s*&r,\s*\"(ivr_\w+)\",\s*" + help_re + r",\s*&\[([^\]]*)\]",
        src,
    ):
        kind = {"counter": "counter", "gauge": "gauge", "histogram": "histogram"}[m.group(1)]
        metrics[m.group(2)] = Metric(m.group(2), kind, set(_strs(m.group(3))))
    # GaugeVec::new(Opts::new("name", "help"), &["queue"])
    for m in re.finditer(
        r"\b(\w+)Vec::new\(\s*Opts::new\(\s*\"(ivr_\w+)\",\s*" + help_re + r",?\s*\),\s*&\[([^\]]*)\]",
        src,
    ):
        kind = "counter" if "Counter" in m.group(1) else "gauge"
        metrics[m.group(2)] = Metric(m.group(2), kind, set(_strs(m.group(3))))
    # Label-free metrics: IntGauge::new("name", ...), Gauge::new(...), HistogramOpts::new(...)
    for m in re.finditer(r"\b(\w+)::new\(\s*\"(ivr_\w+)\"", src):
        name, ctor = m.group(2), m.group(1)
        if name in metrics:
            continue
        if ctor == "HistogramOpts":
            kind = "histogram"
        elif "Counter" in ctor:
            kind = "counter"
        elif ctor in ("Opts",):
            continue  # a *Vec handled above
        else:
            kind = "gauge"
        metrics[name] = Metric(name, kind, set())

    cat = Catalogue(metrics, f"{path} (source)")
    consts = {
        m.group(1): set(_strs(m.group(2)))
        for m in re.finditer(r"const\s+(\w+)\s*:\s*&\[&str\]\s*=\s*&\[([^\]]*)\]", src)
    }
    enum_labels = set(re.findall(r"Self::\w+\s*=>\s*\"([a-z_]+)\"", src))
    for (metric, label), source in VALUE_SETS.items():
        how, what = source.split(":", 1)
        values: set[str] | None = None
        if how == "const":
            values = consts.get(what)
        elif how == "enum":
            values = enum_labels or None
        elif how == "loop":
            # for d in ["twilio", "asterisk"] { ... m.protocol_errors_total ... }
            lm = re.search(r"for\s+\w+\s+in\s+\[([^\]]*)\]\s*\{[^}]*?m\." + what, src)
            if lm:
                values = set(_strs(lm.group(1)))
        if metric in metrics and values:
            metrics[metric].values[label] = values
        elif metric in metrics:
            cat.warnings.append(f"value set of {metric}{{{label}}} not found ({source}); not checked")
    return cat


def load_scrape(path: Path) -> Catalogue:
    metrics: dict[str, Metric] = {}
    types: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
            metrics[name] = Metric(name, types[name])
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"(" + IDENT + r")(\{(.*)\})?\s", line)
        if not m:
            continue
        series = m.group(1)
        base = series
        for suffix in ("_bucket", "_sum", "_count"):
            if series.endswith(suffix) and types.get(series[: -len(suffix)]) in ("histogram", "summary"):
                base = series[: -len(suffix)]
        metric = metrics.setdefault(base, Metric(base, types.get(base, "untyped")))
        for label in re.findall(r'(' + IDENT + r')="', m.group(3) or ""):
            if label != "le" and label != "quantile":
                metric.labels.add(label)
    return Catalogue(metrics, f"{path} (live scrape)")


@dataclass
class Expr:
    where: str
    text: str


def rule_exprs(path: Path) -> tuple[list[Expr], set[str]]:
    """`expr:` values (plain or block scalars) and `record:` names of a rule file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    exprs: list[Expr] = []
    recorded: set[str] = set()
    name = "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(?:-\s+)?(alert|record):\s*(\S+)", line)
        if m:
            name = m.group(3)
            if m.group(2) == "record":
                recorded.add(name)
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", line)
        if m:
            indent = len(m.group(1))
            rest = m.group(2).strip()
            if rest in ("|", "|-", ">", ">-", "|+", ">+"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                exprs.append(Expr(f"{path.name}: {name}", "\n".join(body).strip()))
                continue
            if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
                rest = rest[1:-1]
            exprs.append(Expr(f"{path.name}: {name}", rest))
        i += 1
    return exprs, recorded


def test_series(path: Path) -> list[Expr]:
    """Input series of a promtool test file (written as selectors)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = re.match(r"^\s*-?\s*series:\s*['\"](.*)['\"]\s*$", line)
        if m:
            out.append(Expr(f"{path.name}:{n} input series", m.group(1)))
    return out


def dashboard_exprs(path: Path) -> list[Expr]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Expr] = []

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    out.append(Expr(f"{path.name}: panel {p.get('id')} \"{p.get('title')}\" {t.get('refId')}", t["expr"]))
            walk(p.get("panels"))

    walk(data.get("panels"))
    for a in (data.get("annotations") or {}).get("list", []):
        if a.get("expr"):
            out.append(Expr(f"{path.name}: annotation \"{a.get('name')}\"", a["expr"]))
    for v in (data.get("templating") or {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if q:
            out.append(Expr(f"{path.name}: variable ${v.get('name')}", q))
    return out


SELECTOR = re.compile(r"(" + IDENT + r")?\s*\{([^}]*)\}")
MATCHER = re.compile(r"(" + IDENT + r")\s*(=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")


def check_expr(expr: Expr, cat: Catalogue, recorded: set[str]) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    names: set[str] = set()
    text = expr.text
    lv = re.fullmatch(r"\s*label_values\((.*)\)\s*", text, re.S)
    query_label = None
    if lv:
        parts = lv.group(1).rsplit(",", 1)
        if len(parts) == 2:
            text, query_label = parts[0], parts[1].strip()
        else:
            text, query_label = "", parts[0].strip()
    all_labels = cat.all_labels()

    def check_metric(name: str, matchers: list[tuple[str, str, str]]):
        names.add(name)
        if name in recorded:
            for label, _, _ in matchers:
                if label not in all_labels:
                    problems.append(f"label {label!r} on recorded {name} exists on no metric")
            return
        if name == "up":
            for label, _, _ in matchers:
                if label not in TARGET_LABELS:
                    problems.append(f"label {label!r} is not a target label of up")
            return
        metric, suffix = cat.resolve(name)
        if metric is None:
            problems.append(f"metric {name!r} is not in the catalogue")
            return
        names.add(metric.name)
        allowed = metric.labels | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
        for label, op, raw in matchers:
            if label == "__name__":
                continue
            if label not in allowed:
                problems.append(f"{name} has no label {label!r} (labels: {', '.join(sorted(metric.labels)) or 'none'})")
                continue
            value = raw[1:-1]
            closed = metric.values.get(label)
            if closed and op in ("=", "=~") and "$" not in value and re.fullmatch(r"[A-Za-z0-9_.+|-]+", value):
                for alt in value.split("|"):
                    if alt not in closed:
                        problems.append(
                            f"{name}{{{label}}} never has value {alt!r} (values: {', '.join(sorted(closed))})")

    # 1. selectors with braces
    consumed = []
    for m in SELECTOR.finditer(text):
        name = m.group(1)
        matchers = MATCHER.findall(m.group(2))
        if name and name not in FUNCTIONS and name not in KEYWORDS:
            check_metric(name, matchers)
        else:
            named = [v for (lab, op, v) in matchers if lab == "__name__" and op == "="]
            if named:
                check_metric(named[0][1:-1], [x for x in matchers if x[0] != "__name__"])
            else:
                problems.append(f"selector without a metric name: {m.group(0)!r}")
        consumed.append(m.span())
    rest = []
    last = 0
    for a, b in consumed:
        rest.append(text[last:a])
        rest.append(" ")
        last = b
    rest.append(text[last:])
    text = "".join(rest)
    # 2. strings, ranges, offsets, Grafana variables
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)
    # 3. grouping labels
    for m in re.finditer(GROUPING, text):
        for label in re.findall(IDENT, m.group(2)):
            if label not in all_labels:
                problems.append(f"grouping label {label!r} exists on no metric")
    text = re.sub(GROUPING, " ", text)
    # 4. functions and bare metric names
    for m in re.finditer(r"(?<![\w.])(" + IDENT + r")(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call:
            if word not in FUNCTIONS and word != "label_values":
                problems.append(f"unknown function {word!r}")
            continue
        if word in KEYWORDS or word in FUNCTIONS:
            continue
        if re.fullmatch(r"[0-9.e+-]+", word):
            continue
        check_metric(word, [])
    if query_label is not None and query_label not in all_labels:
        problems.append(f"label_values of unknown label {query_label!r}")
    return problems, names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--catalogue", type=Path, help="src/telemetry/metrics.rs")
    src.add_argument("--scrape", type=Path, help="a saved /metrics response (text format 0.0.4)")
    ap.add_argument("--rules", type=Path, action="append", default=[])
    ap.add_argument("--rules-test", type=Path, action="append", default=[])
    ap.add_argument("--dashboard", type=Path, action="append", default=[])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every expression")
    args = ap.parse_args()

    cat = load_rust_catalogue(args.catalogue) if args.catalogue else load_scrape(args.scrape)
    if not cat.metrics:
        print(f"error: no ivr_ metrics found in {cat.source}", file=sys.stderr)
        return 2
    print(f"catalogue: {len(cat.metrics)} metrics from {cat.source}")
    for w in cat.warnings:
        print(f"  warning: {w}")
    if args.verbose:
        for m in sorted(cat.metrics.values(), key=lambda m: m.name):
            closed = "; ".join(f"{k} in {{{', '.join(sorted(v))}}}" for k, v in sorted(m.values.items()))
            print(f"  {m.kind:9} {m.name} [{', '.join(sorted(m.labels))}] {closed}")

    exprs: list[Expr] = []
    recorded: set[str] = set()
    for r in args.rules:
        e, rec = rule_exprs(r)
        exprs += e
        recorded |= rec
    for t in args.rules_test:
        exprs += test_series(t)
    for d in args.dashboard:
        exprs += dashboard_exprs(d)
    if not exprs:
        print("error: no expressions found", file=sys.stderr)
        return 2

    failures = 0
    used: set[str] = set()
    for e in exprs:
        problems, names = check_expr(e, cat, recorded)
        used |= names
        if problems:
            failures += 1
            print(f"FAIL {e.where}")
            for p in problems:
                print(f"     {p}")
        elif args.verbose:
            print(f"ok   {e.where}: {', '.join(sorted(names))}")
    unused = sorted(n for n in cat.metrics if n not in used)
    print(f"checked {len(exprs)} expressions naming {len(used)} distinct series; "
          f"recorded rules: {len(recorded)}")
    if unused:
        print(f"catalogue metrics no rule or panel uses: {', '.join(unused)}")
    if failures:
        print(f"{failures} expression(s) name something the engine does not export")
        return 1
    print("all metric names, labels and label values are in the catalogue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
