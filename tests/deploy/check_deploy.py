#!/usr/bin/env python3
"""Static checks of the deploy kit (deploy/): what can be verified on a machine
with no container runtime and no cluster, with the tools Debian has.

    check_deploy.py --source REPO [--omnigate BIN] CHECK

Each CHECK is one ctest test (tests/deploy/CMakeLists.txt, label `deploy`).
Exit 0 pass, 1 fail, 77 skipped (a tool is missing: deploy/setup-deps.sh
installs them all, so in CI nothing is skipped).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - reported as a skip
    yaml = None

SKIP = 77
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def skip(msg):
    print(f"SKIPPED: {msg}")
    sys.exit(SKIP)


def need_tool(name, package):
    path = shutil.which(name)
    if not path:
        skip(f"{name} not found (Debian package {package}; deploy/setup-deps.sh installs it)")
    return path


def need_yaml():
    if yaml is None:
        skip(f"python3-yaml is not importable by {sys.executable} (deploy/setup-deps.sh installs it)")


def run(cmd, only=None, **kw):
    """Runs cmd and prints its output (only the lines matching `only`)."""
    print("$ " + " ".join(str(c) for c in cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    out = (p.stdout + p.stderr).strip()
    if only:
        out = "\n".join(l for l in out.splitlines() if re.search(only, l))
    if out:
        print("  " + out.replace("\n", "\n  "))
    return p


def duration_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def drain_timeout(cfg):
    return duration_seconds((cfg.get("pipeline") or {}).get("drain_timeout", "10s"))


# ---------------------------------------------------------------------------
# What the gateway exports, parsed from gateway/metrics.cc (nothing started).

class Exported:
    def __init__(self, metrics_cc):
        text = Path(metrics_cc).read_text()
        self.labels = {}        # metric name -> set of label names
        self.values = {}        # label name -> set of literal values, or None if open
        variables = {}          # C++ variable holding a label string -> label names
        for m in re.finditer(r"std::string\s+(\w+)\s*=\s*fmt::format\(([^;]*);", text):
            variables[m.group(1)] = set(re.findall(r'([a-z_]+)=\\"', m.group(2)))
        histograms = set(re.findall(r"# TYPE (omnigate_[a-z0-9_]+) histogram", text))
        # A name passed on its own ("omnigate_x"), or starting a format string
        # that writes the labels itself ("omnigate_x{{a=\"{}\"}} {}\n").
        for m in re.finditer(r'"(omnigate_[a-z0-9_]+)(?:"|\{\{)', text):
            name = m.group(1)
            end = text.find(");", m.end())
            stmt = text[m.end():end if end >= 0 else len(text)]
            keys = set(re.findall(r'([a-z_]+)=\\"', stmt))
            for var, vkeys in variables.items():
                if re.search(rf"\b{var}\b", stmt):
                    keys |= vkeys
            self.labels.setdefault(name, set()).update(keys)
        for h in histograms:
            base = self.labels.pop(h, set())
            self.labels[h + "_bucket"] = base | {"le"}
            self.labels[h + "_sum"] = set(base)
            self.labels[h + "_count"] = set(base)
        for m in re.finditer(r'([a-z_]+)=\\"([^"\\]*)\\"', text):
            key, value = m.group(1), m.group(2)
            if "{" in value:
                self.values[key] = None
            elif self.values.get(key, set()) is not None:
                self.values.setdefault(key, set()).add(value)
        # Values formatted in from a table of {"value", &counter} pairs
        # (the provider outcomes).
        pairs = re.findall(r'\{"([a-z_]+)",\s*&p->\w+\}', text)
        if pairs and self.values.get("outcome", None) is None and "outcome" in text:
            self.values["outcome"] = set(pairs)
        # Values formatted in by a function returning literals, such as
        # policy::DecisionLabel(outcome) for decision="{}" (the policy
        # decisions): the label keys written "{}" and the *Label( calls of one
        # statement pair up in order; the values are what the function (in a
        # .cc file under the same source tree) can return.
        sources = Path(metrics_cc).parent
        for stmt in re.findall(r"fmt::format_to\((.*?)\);", text, re.S):
            keys = re.findall(r'([a-z_]+)=\\"\{\}\\"', stmt)
            funcs = re.findall(r"(\w+Label)\(", stmt)
            for key, func in zip(keys, funcs):
                literals = set()
                for cc in sources.rglob("*.cc"):
                    body = re.search(rf"\b{func}\([^)]*\)\s*\{{(.*?)\n\}}", cc.read_text(), re.S)
                    if body:
                        literals |= set(re.findall(r'return "([a-z_]+)";', body.group(1)))
                if literals:
                    self.values[key] = literals
        if len(self.labels) < 10:
            raise SystemExit(f"{metrics_cc}: found only {len(self.labels)} metric names; "
                             "has the way metrics are rendered changed? Update Exported in "
                             "tests/deploy/check_deploy.py")


TARGET_LABELS = {"job", "instance", "service", "__name__"}
AGG_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
IDENT = re.compile(r"(?<![\w:$.\"])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w(\"])")


class ExprChecker:
    """Checks that PromQL expressions use only exported metrics, their labels
    and their literal label values, and recording rules defined here."""

    def __init__(self, exported, recorded_exprs):
        self.exported = exported
        self.recorded = {}
        for name, expr in recorded_exprs.items():
            self.recorded[name] = set()
        for name, expr in recorded_exprs.items():
            self.recorded[name] = self.result_labels(expr)

    def result_labels(self, expr):
        """Labels a recorded series keeps: those of its `by` clauses when it
        aggregates (less `le` once histogram_quantile consumed it), else
        those of the metrics it reads."""
        by = set()
        for clause in AGG_CLAUSE.finditer(expr):
            if clause.group(1) == "by":
                by |= {x.strip() for x in clause.group(2).split(",") if x.strip()}
        if not by:
            return self.labels_of(expr)
        if "histogram_quantile" in expr:
            by.discard("le")
        return by

    def metrics_in(self, expr):
        no_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
        no_clauses = AGG_CLAUSE.sub(" ", no_strings)
        no_ranges = re.sub(r"\[[^\]]*\]", " ", no_clauses)
        no_matchers = re.sub(r"\{[^}]*\}", " ", no_ranges)
        names = set()
        for tok in IDENT.findall(no_matchers):
            if tok.startswith("omnigate") or ":" in tok or tok == "up":
                names.add(tok)
        return names

    def labels_of(self, expr):
        labels = set(TARGET_LABELS)
        for name in self.metrics_in(expr):
            labels |= self.exported.labels.get(name, set()) | self.recorded.get(name, set())
        return labels

    def check(self, where, expr):
        names = self.metrics_in(expr)
        if not names:
            fail(f"{where}: no Omnigate metric in `{expr}`")
        for name in names:
            if name == "up":
                continue
            if ":" in name:
                if name not in self.recorded:
                    fail(f"{where}: `{name}` is not a recording rule of deploy/prometheus/recording_rules.yml")
            elif name not in self.exported.labels:
                fail(f"{where}: `{name}` is not exported by the gateway (gateway/metrics.cc)")
        allowed = self.labels_of(expr)
        for clause in AGG_CLAUSE.finditer(expr):
            for label in filter(None, (x.strip() for x in clause.group(2).split(","))):
                if label not in allowed:
                    fail(f"{where}: label `{label}` in `{clause.group(0)}` is not a label of "
                         f"{sorted(names)} (they have {sorted(allowed - {'__name__'})})")
        for sel in SELECTOR.finditer(expr):
            metric = sel.group(1)
            own = allowed
            if metric and metric in self.exported.labels:
                own = self.exported.labels[metric] | TARGET_LABELS
            elif metric and metric in self.recorded:
                own = self.recorded[metric] | TARGET_LABELS
            for key, op, value in MATCHER.findall(sel.group(2)):
                if key not in own:
                    fail(f"{where}: `{metric or ''}` has no label `{key}`")
                    continue
                known = self.exported.values.get(key)
                if not known or "$" in value:
                    continue
                alternatives = value.split("|") if op in ("=~", "!~") else [value]
                if op in ("=~", "!~") and not all(re.fullmatch(r"[\w.-]+", a) for a in alternatives):
                    continue
                for a in alternatives:
                    if a not in known:
                        fail(f"{where}: {key}=\"{a}\" never occurs; the gateway exports "
                             f"{key} in {sorted(known)}")


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def rule_groups(path):
    return [(g["name"], r) for g in load_yaml(path)["groups"] for r in g["rules"]]


def github_anchors(markdown):
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    anchors |= set(re.findall(r'<a (?:id|name)="([^"]+)"', markdown))
    return anchors


# ---------------------------------------------------------------------------
# The checks.

def check_prometheus_config(src, args):
    promtool = need_tool("promtool", "prometheus")
    need_yaml()
    prom = src / "deploy/prometheus"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for f in prom.glob("*.yml"):
            shutil.copy(f, tmp / f.name)
        # The token file exists only in the container (/run/secrets); promtool
        # checks that it exists, so point the copy at a stand-in.
        token = tmp / "token"
        token.write_text("test-token\n")
        cfg = (tmp / "prometheus.yml").read_text()
        if "credentials_file: /run/secrets/omnigate_admin_token" not in cfg:
            fail("prometheus.yml: the omnigate job must read the admin token from "
                 "/run/secrets/omnigate_admin_token (the compose secret)")
        (tmp / "prometheus.yml").write_text(
            cfg.replace("/run/secrets/omnigate_admin_token", str(token)))
        p = run([promtool, "check", "config", str(tmp / "prometheus.yml")])
        if p.returncode != 0:
            fail("promtool check config")
    parsed = load_yaml(prom / "prometheus.yml")
    jobs = {j["job_name"]: j for j in parsed["scrape_configs"]}
    if "omnigate" not in jobs:
        fail("prometheus.yml: no job `omnigate` (the alerts select up{job=\"omnigate\"})")
    compose = load_yaml(src / "deploy/docker-compose.yml")
    targets = [t for sc in jobs.get("omnigate", {}).get("static_configs", []) for t in sc["targets"]]
    for t in targets:
        host = t.split(":")[0]
        if host not in compose["services"]:
            fail(f"prometheus.yml: target {t} is not a service of deploy/docker-compose.yml")


def check_prometheus_rules(src, args):
    promtool = need_tool("promtool", "prometheus")
    need_yaml()
    prom = src / "deploy/prometheus"
    p = run([promtool, "check", "rules", str(prom / "recording_rules.yml"), str(prom / "alerts.yml")])
    if p.returncode != 0:
        fail("promtool check rules")
    anchors = github_anchors((src / "docs/operations.md").read_text())
    alerts = rule_groups(prom / "alerts.yml")
    for _, rule in alerts:
        name = rule["alert"]
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                fail(f"alert {name}: no `{key}` annotation")
        url = ann.get("runbook_url", "")
        m = re.fullmatch(r"docs/operations\.md#([\w-]+)", url)
        if not m:
            fail(f"alert {name}: runbook_url {url!r} is not docs/operations.md#anchor")
        elif m.group(1) not in anchors:
            fail(f"alert {name}: docs/operations.md has no heading for #{m.group(1)}")
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            fail(f"alert {name}: severity label must be critical, warning or info")


def check_prometheus_unit_tests(src, args):
    promtool = need_tool("promtool", "prometheus")
    need_yaml()
    prom = src / "deploy/prometheus"
    p = run([promtool, "test", "rules", str(prom / "alerts_test.yml")])
    if p.returncode != 0:
        fail("promtool test rules deploy/prometheus/alerts_test.yml")
    # The file must keep showing the alerts that matter most firing, and
    # at least one healthy series staying quiet beside them.
    fired, quiet = set(), set()
    for t in load_yaml(prom / "alerts_test.yml")["tests"]:
        for a in t.get("alert_rule_test", []):
            (fired if a.get("exp_alerts") else quiet).add(a["alertname"])
    for must in ("OmnigateSendsStalled", "OmnigateProviderFailureRatioHigh",
                 "OmnigateStateStoreDown"):
        if must not in fired:
            fail(f"alerts_test.yml: no test where {must} fires")
    if not quiet:
        fail("alerts_test.yml: no test asserting that an alert stays quiet")
    defined = {r["alert"] for _, r in rule_groups(prom / "alerts.yml")}
    print(f"alerts fired in tests: {sorted(fired)}; untested: {sorted(defined - fired)}")


def check_compose(src, args):
    compose_bin = shutil.which("docker-compose")
    if not compose_bin:
        if shutil.which("docker"):
            compose_bin = None
        else:
            skip("docker-compose not found (Debian package docker-compose; deploy/setup-deps.sh installs it)")
    need_yaml()
    path = src / "deploy/docker-compose.yml"
    cmd = [compose_bin, "-f", str(path), "config"] if compose_bin else ["docker", "compose", "-f", str(path), "config"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIGATE_", "COMPOSE_"))}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    print("$ " + " ".join(cmd) + f"  -> exit {p.returncode}")
    if p.returncode != 0:
        print(p.stderr)
        fail("docker-compose config")
        return
    if p.stderr.strip():
        print("  " + p.stderr.strip())
    cfg = yaml.safe_load(p.stdout)
    services = cfg["services"]
    for s in ("kafka", "kafka-init", "redis", "mock-provider", "gateway", "prometheus", "grafana"):
        if s not in services:
            fail(f"docker-compose.yml: no service `{s}`")
    if not services.get("kafka", {}).get("image", "").startswith("apache/kafka:"):
        fail("docker-compose.yml: kafka must be the official apache/kafka image")
    init = json.dumps(services.get("kafka-init", {}))
    for topic in ("omnigate.requests", "omnigate.requests.bulk", "omnigate.events", "omnigate.dlq"):
        if topic not in init:
            fail(f"docker-compose.yml: kafka-init does not create {topic}")
    gw = services.get("gateway", {})
    gw_cfg = load_yaml(src / "deploy/compose/omnigate.yaml")
    grace = duration_seconds(str(gw.get("stop_grace_period", "10s")))
    if grace < drain_timeout(gw_cfg) + 10:
        fail(f"gateway stop_grace_period {grace}s < drain_timeout + 10 s")
    # Host paths mounted into the containers exist.
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            source = v.get("source") if isinstance(v, dict) else v.split(":")[0]
            vtype = v.get("type", "bind") if isinstance(v, dict) else ("bind" if "/" in source else "volume")
            if vtype == "bind" and not Path(source).exists():
                fail(f"service {name}: mounted {source} does not exist")
    for name, secret in cfg.get("secrets", {}).items():
        if not Path(secret["file"]).is_file():
            fail(f"secret {name}: {secret['file']} does not exist")
    # Prometheus reads the token the gateway is given.
    prom_cfg = load_yaml(src / "deploy/prometheus/prometheus.yml")
    cred = prom_cfg["scrape_configs"][0].get("authorization", {}).get("credentials_file", "")
    for svc in ("gateway", "prometheus"):
        got = [s if isinstance(s, str) else s.get("source") for s in services.get(svc, {}).get("secrets", [])]
        if "omnigate_admin_token" not in got:
            fail(f"service {svc} does not get the omnigate_admin_token secret")
    if cred != "/run/secrets/omnigate_admin_token":
        fail("prometheus.yml credentials_file is not the compose secret's path")
    if "/metrics" in (gw_cfg.get("http") or {}).get("open_routes", []):
        fail("deploy/compose/omnigate.yaml opens /metrics although Prometheus has the token")


def check_systemd(src, args):
    analyze = need_tool("systemd-analyze", "systemd")
    unit = src / "deploy/systemd/omnigate.service"
    text = unit.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        # verify wants the ExecStart binary to exist: point the copy at the
        # build's binary (or /bin/true when none is given).
        binary = args.omnigate if args.omnigate and Path(args.omnigate).exists() else "/bin/true"
        copy = Path(tmp) / "omnigate.service"
        copy.write_text(text.replace("/usr/local/bin/omnigate", binary))
        p = run([analyze, "verify", "--man=no", str(copy)])
        if p.returncode != 0 or p.stderr.strip():
            fail("systemd-analyze verify")
        p = run([analyze, "security", "--offline=yes", "--threshold=30", "--no-pager", str(copy)],
                only=r"Overall exposure|rror")
        if p.returncode != 0:
            fail("systemd-analyze security: exposure above 3.0 (of 10)")
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    example = load_yaml(src / "examples/omnigate.yaml")
    expect = {"DynamicUser": "yes", "ProtectSystem": "strict", "KillSignal": "SIGTERM"}
    for key, value in expect.items():
        if settings.get(key) != value:
            fail(f"omnigate.service: {key}={settings.get(key)} (want {value})")
    if int(settings.get("LimitNOFILE", "0")) < 65536:
        fail("omnigate.service: LimitNOFILE below 65536")
    stop = duration_seconds(settings.get("TimeoutStopSec", "0") + ("" if settings.get("TimeoutStopSec", "0")[-1].isalpha() else "s"))
    if stop < drain_timeout(example) + 10:
        fail(f"omnigate.service: TimeoutStopSec={stop}s < drain_timeout + 10 s")


def check_manifests(src, args):
    need_yaml()
    files = sorted((src / "deploy").rglob("*.yml")) + sorted((src / "deploy").rglob("*.yaml"))
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
            if not docs:
                fail(f"{f}: empty")
        except yaml.YAMLError as e:
            fail(f"{f}: {e}")
    for f in sorted((src / "deploy").rglob("*.json")):
        try:
            json.loads(f.read_text())
        except ValueError as e:
            fail(f"{f}: {e}")
    print(f"parsed {len(files)} YAML and the JSON files under deploy/")

    k8s = {}
    for f in sorted((src / "deploy/k8s").glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d and "kind" in d:
                if not d.get("apiVersion") or not d.get("metadata", {}).get("name") and d["kind"] != "Kustomization":
                    fail(f"{f}: {d['kind']} without apiVersion or metadata.name")
                k8s[d["kind"]] = d
    for kind in ("Deployment", "ConfigMap", "Service", "PodDisruptionBudget", "Secret"):
        if kind not in k8s:
            fail(f"deploy/k8s: no {kind}")
    if "ScaledObject" not in k8s and "HorizontalPodAutoscaler" not in k8s:
        fail("deploy/k8s: neither a KEDA ScaledObject nor an HPA")
    if "ServiceMonitor" not in k8s and "prometheus.io/scrape" not in json.dumps(k8s.get("Deployment", {})):
        fail("deploy/k8s: neither a ServiceMonitor nor scrape annotations")
    kust = k8s.get("Kustomization", {})
    for r in kust.get("resources", []):
        if not (src / "deploy/k8s" / r).exists():
            fail(f"kustomization.yaml: {r} does not exist")
    dep = k8s.get("Deployment")
    cm = k8s.get("ConfigMap")
    if not dep or not cm:
        return
    cfg = yaml.safe_load(cm["data"]["omnigate.yaml"])
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < drain_timeout(cfg) + 10:
        fail(f"Deployment: terminationGracePeriodSeconds {grace} < drain_timeout + 10 s")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        fail("Deployment: readinessProbe is not GET /readyz")
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        fail("Deployment: livenessProbe is not GET /healthz")
    open_routes = (cfg.get("http") or {}).get("open_routes", ["/healthz", "/readyz"])
    for probe in ("/healthz", "/readyz"):
        if probe not in open_routes:
            fail(f"ConfigMap: {probe} is probed without a token but not in http.open_routes")
    port = int(str(cfg["http"]["listen"]).rsplit(":", 1)[1])
    if port not in [p["containerPort"] for p in c.get("ports", [])]:
        fail(f"Deployment: containerPort is not the config's http.listen port {port}")
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    if not psc.get("runAsNonRoot") and not csc.get("runAsNonRoot"):
        fail("Deployment: runAsNonRoot is not set")
    if not csc.get("readOnlyRootFilesystem"):
        fail("Deployment: readOnlyRootFilesystem is not set")
    if csc.get("allowPrivilegeEscalation") is not False:
        fail("Deployment: allowPrivilegeEscalation is not false")
    if not c.get("resources", {}).get("requests"):
        fail("Deployment: no resource requests")
    secret_refs = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
    secret_refs += [e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})]
    if not secret_refs:
        fail("Deployment: the admin token and provider credentials do not come from a Secret")
    # Every ${VAR} the config needs is given by the Deployment or the Secret.
    given = {e["name"] for e in c.get("env", [])}
    secret = k8s.get("Secret", {})
    given |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    live = "\n".join(l for l in cm["data"]["omnigate.yaml"].splitlines()
                     if not l.lstrip().startswith("#"))
    for var in re.findall(r"\$\{(\w+)\}", live):
        if var not in given:
            fail(f"ConfigMap: ${{{var}}} is set neither by the Deployment nor by the example Secret")
    sel = dep["spec"]["selector"]["matchLabels"]
    for kind in ("Service", "PodDisruptionBudget"):
        obj = k8s.get(kind, {})
        s = obj.get("spec", {}).get("selector", {})
        s = s.get("matchLabels", s)
        if s != sel:
            fail(f"{kind}: selector {s} is not the Deployment's {sel}")
    so = k8s.get("ScaledObject")
    if so:
        if so["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]:
            fail("ScaledObject: scaleTargetRef is not the Deployment")
        for t in so["spec"]["triggers"]:
            if t["type"] == "kafka" and t["metadata"].get("consumerGroup") != cfg["kafka"].get("group_id", "omnigate"):
                fail("ScaledObject: consumerGroup is not the config's kafka.group_id")


def check_metric_names(src, args):
    need_yaml()
    exported = Exported(src / "gateway/metrics.cc")
    print(f"gateway exports {len(exported.labels)} series names: "
          + ", ".join(f"{k}{sorted(v)}" for k, v in sorted(exported.labels.items())))
    prom = src / "deploy/prometheus"
    recorded = {r["record"]: r["expr"] for _, r in rule_groups(prom / "recording_rules.yml")}
    checker = ExprChecker(exported, recorded)
    n = 0
    for name, expr in recorded.items():
        checker.check(f"recording rule {name}", expr)
        n += 1
    for _, r in rule_groups(prom / "alerts.yml"):
        checker.check(f"alert {r['alert']}", r["expr"])
        n += 1
    for t in load_yaml(prom / "alerts_test.yml")["tests"]:
        for s in t.get("input_series", []):
            checker.check(f"alerts_test.yml series {s['series']}", s["series"])
            n += 1
        for e in t.get("promql_expr_test", []):
            checker.check("alerts_test.yml expression", e["expr"])
            n += 1
    for f in sorted((src / "deploy/grafana").rglob("*.json")):
        dash = json.loads(f.read_text())
        panels = list(dash.get("panels", []))
        for p in list(panels):
            panels += p.get("panels", [])
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    checker.check(f"{f.name} panel '{p.get('title')}'", t["expr"])
                    n += 1
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q or "")
            if v.get("type") == "query":
                if not m:
                    fail(f"{f.name} variable {v['name']}: unexpected query {q!r}")
                    continue
                checker.check(f"{f.name} variable {v['name']}", m.group(1))
                if m.group(2) not in exported.labels.get(m.group(1), set()) | TARGET_LABELS:
                    fail(f"{f.name} variable {v['name']}: {m.group(1)} has no label {m.group(2)}")
                n += 1
    print(f"checked {n} expressions")


def check_configs(src, args):
    if not args.omnigate or not Path(args.omnigate).exists():
        skip("no omnigate binary given (--omnigate); build it first")
    need_yaml()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        cm = load_yaml(src / "deploy/k8s/configmap.yaml")
        k8s_cfg = Path(tmp) / "k8s-omnigate.yaml"
        k8s_cfg.write_text(cm["data"]["omnigate.yaml"])
        for path in (src / "deploy/compose/omnigate.yaml", k8s_cfg):
            # Every ${VAR} without a default gets a stand-in, as the Secret would.
            for var in re.findall(r"\$\{(\w+)\}", path.read_text()):
                env.setdefault(var, "AC0000" if var.endswith("_SID") else "x")
            p = run([args.omnigate, "check-config", "-c", str(path)], env=env)
            if p.returncode != 0:
                fail(f"omnigate check-config {path}")


def check_dockerfile(src, args):
    text = (src / "deploy/Dockerfile").read_text()
    stages = re.split(r"^FROM\s+", text, flags=re.M)
    if len(stages) < 3:
        fail("Dockerfile: not multi-stage")
        return
    if not re.search(r"^ARG DEBIAN_IMAGE=debian:(12|bookworm)", text, re.M):
        fail("Dockerfile: base image is not Debian 12")
    build, runtime = stages[1], stages[-1]
    if "setup-deps.sh --build-only" not in build:
        fail("Dockerfile: build stage does not install setup-deps' build set (--build-only)")
    if "cmake --preset release" not in build:
        fail("Dockerfile: build stage does not use the release preset")
    m = re.search(r"--no-install-recommends(.*?)&&", runtime, re.S)
    runtime_pkgs = set(m.group(1).replace("\\", " ").split()) if m else set()
    for directive, pattern in (("EXPOSE", r"^EXPOSE 8080\b"), ("STOPSIGNAL", r"^STOPSIGNAL SIGTERM\b"),
                               ("HEALTHCHECK", r"^HEALTHCHECK .*\n?.*healthz|^ENV OMNIGATE_HEALTHCHECK_URL=.*/healthz"),
                               ("USER", r"^USER (?!0\b|root\b)\S+"),
                               ("ENTRYPOINT", r'^ENTRYPOINT \["/usr/local/bin/omnigate"\]'),
                               ("CMD", r'^CMD \["run", "-c", "/etc/omnigate/omnigate.yaml"\]')):
        if not re.search(pattern, runtime, re.M):
            fail(f"Dockerfile runtime stage: {directive} missing or not as expected ({pattern})")
    if "curl" in runtime.split("HEALTHCHECK", 1)[-1] and "curl" not in runtime_pkgs:
        fail("Dockerfile: the HEALTHCHECK uses curl, which the runtime stage does not install")
    if "ca-certificates" not in runtime_pkgs:
        fail("Dockerfile: no ca-certificates (provider TLS is verified against the system store)")
    for src_path in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        if src_path != "." and not (src / src_path).exists():
            fail(f"Dockerfile: COPY {src_path} does not exist in the repository")
    ignored = [l.strip() for l in (src / ".dockerignore").read_text().splitlines()
               if l.strip() and not l.startswith("#")]
    for needed in ("CMakeLists.txt", "deploy", "examples", "gateway", "common", "queue", "providers", "bench"):
        if any(i.rstrip("/") == needed for i in ignored):
            fail(f".dockerignore leaves out {needed}, which the build needs")
    # Every library the binaries link comes from a package the runtime stage
    # installs (or the base image has).
    if not args.omnigate or not Path(args.omnigate).exists():
        print("no --omnigate binary: linked libraries not compared")
        return
    objdump, dpkg = shutil.which("objdump"), shutil.which("dpkg-query")
    if not objdump or not dpkg:
        print("objdump or dpkg-query missing: linked libraries not compared")
        return
    base = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}
    mock = Path(args.omnigate).parent.parent / "bench/omnigate-mock-provider"
    for binary in [Path(args.omnigate)] + ([mock] if mock.exists() else []):
        needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run([objdump, "-p", str(binary)],
                            capture_output=True, text=True).stdout)
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for lib in needed:
            path = where.get(lib)
            if not path:
                fail(f"{binary.name}: {lib} not found by ldd")
                continue
            owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
            if owner.returncode != 0:
                owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            pkg = owner.stdout.split(":")[0].strip()
            if pkg and pkg not in runtime_pkgs | base:
                fail(f"{binary.name} links {lib} from package {pkg}, which the runtime stage does not install")
            print(f"{binary.name}: {lib} <- {pkg or '?'}")


CHECKS = {
    "prometheus-config": check_prometheus_config,
    "prometheus-rules": check_prometheus_rules,
    "prometheus-unit-tests": check_prometheus_unit_tests,
    "compose": check_compose,
    "systemd": check_systemd,
    "manifests": check_manifests,
    "metric-names": check_metric_names,
    "configs": check_configs,
    "dockerfile": check_dockerfile,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="repository root")
    ap.add_argument("--omnigate", help="the built omnigate binary")
    ap.add_argument("check", choices=sorted(CHECKS) + ["all"])
    args = ap.parse_args()
    src = Path(args.source).resolve()
    if args.omnigate:
        args.omnigate = str(Path(args.omnigate).resolve())
    names = sorted(CHECKS) if args.check == "all" else [args.check]
    for name in names:
        print(f"== {name}")
        try:
            CHECKS[name](src, args)
        except SystemExit as e:
            if e.code != SKIP or len(names) == 1:
                raise
    if failures:
        print(f"{len(failures)} problem(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
