#!/usr/bin/env python3
"""The benchmark harness behind `make bench`.

Every scenario runs on fresh processes, each its own, so that CPU and memory
are the gateway's alone:
  omnigate embedded-kafka   librdkafka's mock cluster (real protocol on TCP)
  omnigate-mock-provider    the provider APIs
  omnigate run              the gateway under test
  omnigate-loadgen          publishes requests, ids stamped with publish time
Sends/s and latency come from the events topic itself (read back with kcat):
latency = final event ts - publish time in the request id. CPU is the
gateway's utime+stime over the run (/proc/PID/stat), RSS its VmHWM.

Usage: harness.py --build-dir build/release --out bench/results/results.json [--short]
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


# The latency scenarios run the consumer with fetch.wait.max.ms 1 (default 10).
# The embedded broker (librdkafka's mock cluster) holds a fetch for that long
# where a real broker would answer as soon as data arrives; at 10 it added
# ~4.5 ms to the p50 and ~11 ms to the p99 of half-rate (bench/README.md).
LOW_LATENCY_FETCH = '  consumer: {fetch.wait.max.ms: "1"}\n'
LOW_LATENCY_NOTE = ("Consumer fetch.wait.max.ms 1 (the embedded broker holds fetches for the "
                    "full wait; see bench/README.md). ")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_file_limit():
    """The descriptor limit of the systemd unit (deploy/systemd/omnigate.service,
    LimitNOFILE=65536), set once in the harness so that every process it starts
    inherits it. Every provider request in flight holds a connection, and the
    provider-latency scenarios keep up to 20,000 in flight; a shell's 1,024 (or
    this box's 20,000) would run out. Without the privilege to raise it, the
    soft limit goes up to the hard one. Returns the soft limit now in force."""
    want = 65536
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wait_for(cond, timeout, what, poll=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(poll)
    raise RuntimeError("timed out after %ss waiting for %s" % (timeout, what))


def read_file(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_group(comm):
    """The gateway's threads by kind: its own are named "og-<kind>[-N]"
    (common/thread_name.h), librdkafka's "rdk:<kind>", RocksDB's
    "rocksdb:<pool>"; the main thread keeps the binary's name."""
    comm = comm.rstrip("0123456789#-/")
    return comm or "?"


class CpuSample:
    """A process's CPU time, in all and per thread group (user, system
    seconds), read from /proc at one moment. Two samples subtract to what
    the process used between them; a thread that exited in between is in
    the total only ("exited")."""

    def __init__(self, pid):
        self.total = cpu_seconds(pid)
        self.groups = {}
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    head, rest = f.read().rsplit(")", 1)
            except OSError:
                continue  # exited while listed
            fields = rest.split()
            group = thread_group(head.split("(", 1)[1])
            u, s = self.groups.get(group, (0.0, 0.0))
            self.groups[group] = (u + int(fields[11]) / TICKS, s + int(fields[12]) / TICKS)

    def since(self, start):
        """{group: [user s, system s]} used since `start`, with "exited"."""
        out = {}
        for g, (u, s) in self.groups.items():
            u0, s0 = start.groups.get(g, (0.0, 0.0))
            out[g] = [max(0.0, u - u0), max(0.0, s - s0)]
        rest = (self.total - start.total) - sum(u + s for u, s in out.values())
        if rest > 1.5 / TICKS:
            out["exited"] = [rest, 0.0]
        return out


def peak_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = Counter()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def finals(m):
    return sum(v for k, v in m.items() if k.startswith("omnigate_requests_final_total"))


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def machine():
    cpu = ""
    for line in read_file("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0.0
    for line in read_file("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 1024.0 / 1024.0
    osname = ""
    for line in read_file("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            osname = line.split("=", 1)[1].strip('"')
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem, 1),
            "kernel": platform.release(), "os": osname}


class Stack:
    """Broker, mock provider and gateway for one scenario."""

    # provider_in_flight: requests on the wire per provider (all workers), sized
    # by Little's law as an operator would: the mock answers in well under a
    # millisecond, so 128 covers 50,000/s at 2.5 ms. More only opens idle
    # connections, and each HTTP/1.1 connection costs CPU (bench/README.md,
    # "Tuning log"); the provider-latency scenarios raise it with the latency.
    #
    # tls: the mock speaks HTTPS (h2 and http/1.1 by ALPN) with a certificate
    # from a CA made for this run (bench/tls_certs.sh); the providers verify
    # it with `ca_file`, verification on as in production. http_client: the
    # providers' `http_client` (None: the gateway's default).
    def __init__(self, build, work, provider_latency_ms=0, max_in_flight=20000,
                 per_partition=5000, provider_in_flight=128, partitions=16, workers=2,
                 mock_threads=1, push_key=None, vapid_private=None, kafka_extra="",
                 tls=False, http_client=None, policy="off"):
        self.build, self.work = build, work
        self.procs = []
        self.redis = None
        shutil.rmtree(work, ignore_errors=True)  # no stale port or bootstrap files
        os.makedirs(work)
        policy_yaml = self._policy_yaml(policy)
        self._spawn("kafka", [self.bin("gateway/omnigate"), "embedded-kafka", "--partitions",
                              str(partitions), "--bootstrap-file", self.path("bootstrap")])
        self.bootstrap = wait_for(lambda: read_file(self.path("bootstrap")), 30, "embedded kafka")
        mock_tls = []
        if tls:
            subprocess.run(["bash", os.path.join(ROOT, "bench/tls_certs.sh"), self.path("tls")],
                           check=True)
            mock_tls = ["--tls-cert", self.path("tls/server.pem"),
                        "--tls-key", self.path("tls/server.key")]
        self._spawn("mock", [self.bin("bench/omnigate-mock-provider"), "--port", "0",
                             "--port-file", self.path("mock.port"), "--threads",
                             str(mock_threads), "--latency-ms", str(provider_latency_ms),
                             "--account-sid", "ACbench", "--auth-token", "bench-token"] + mock_tls)
        mock = ("https" if tls else "http") + "://127.0.0.1:" + wait_for(
            lambda: read_file(self.path("mock.port")), 10, "mock provider")
        self.mock_url = mock
        http_extra = ""
        if tls:
            http_extra += "    ca_file: %s\n" % self.path("tls/ca.pem")
        if http_client:
            http_extra += "    http_client: %s\n" % http_client
        common = "    base_url: %s\n    max_in_flight: %d\n    timeout: 30s\n%s" % (
            mock, provider_in_flight, http_extra)
        config = """kafka:
  brokers: "%s"
  commit_interval: 100ms
%s
pipeline: {workers: %d, max_in_flight: %d, max_in_flight_per_partition: %d,
           max_schedule_ahead: 1h}
retry: {max_attempts: 2, initial_backoff: 100ms, max_backoff: 1s}
http: {listen: "127.0.0.1:0", port_file: "%s"}
log: {level: warn}
%s
providers:
  - name: sms-bench
    type: twilio
    account_sid: ACbench
    auth_token: bench-token
    from: "+15005550006"
%s  - name: email-bench
    type: sendgrid
    api_key: SG.mock
%s  - name: viber-bench
    type: viber
    auth_token: viber-mock
    sender_name: Bench
%s""" % (self.bootstrap, kafka_extra, workers, max_in_flight, per_partition, self.path("http.port"),
         policy_yaml, common, common, common)
        if vapid_private:
            config += """  - name: push-bench
    type: webpush
    vapid_private_key: %s
    vapid_subject: mailto:bench@example.com
    endpoint_origin_override: %s
    max_in_flight: %d
    timeout: 30s
%s""" % (vapid_private, mock, provider_in_flight, http_extra)
        with open(self.path("omnigate.yaml"), "w") as f:
            f.write(config)
        self.gateway = self._spawn("gateway", [self.bin("gateway/omnigate"), "run", "-c",
                                               self.path("omnigate.yaml")])
        self.http_port = int(wait_for(lambda: read_file(self.path("http.port")), 30, "gateway"))

        def ready():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.http_port,
                                            timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, 60, "gateway readiness (Kafka assignment)", poll=0.1)

    # The delivery policy under test. "off": the bare pipeline, the reference
    # every other scenario measures. "embedded" / "redis": what DESIGN.md §11
    # calls the full policy on every request: id dedup (a claim, then the send
    # recorded), opt-out lookups (the channel's and the all-channels record),
    # and a frequency cap read before and counted after each send. The caps
    # are loose enough (5/1h, 20/24h per recipient over 10 million random
    # numbers) that they cost their lookups without suppressing the load.
    def _policy_yaml(self, policy):
        if policy == "off":
            return "policy: {enabled: false}"
        caps = """policy:
  defaults:
    frequency_caps:
      - {channel: all, lanes: all, limits: [5/1h, 20/24h]}"""
        if policy == "embedded":
            # DESIGN.md §11's policy: the status store (history and provider
            # ids, for GET /v1/messages and receipts) is not part of it, and
            # "status-embedded" measures it on top.
            return "state: {path: %s, status_retention: 0}\n%s" % (self.path("state"), caps)
        if policy == "status-embedded":
            return "state: {path: %s}\n%s" % (self.path("state"), caps)
        if policy == "redis":
            port = free_port()
            self.redis = self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", self.work])

            def pong():
                return subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                                      ).stdout.strip() == b"PONG"
            wait_for(pong, 10, "redis-server")
            self.redis_port = port
            # As policy-embedded: §11's policy, the status store off.
            return ("state: {backend: redis, status_retention: 0, redis: {port: %d}}\n%s"
                    % (port, caps))
        raise ValueError("policy must be off, embedded, status-embedded or redis, not %r" % policy)

    def bin(self, rel):
        return os.path.join(self.build, rel)

    def path(self, name):
        return os.path.join(self.work, name)

    def _spawn(self, name, argv):
        out = open(self.path(name + ".log"), "w")
        env = None
        if name == "gateway" and os.environ.get("BENCH_GATEWAY_PRELOAD"):
            env = dict(os.environ, LD_PRELOAD=os.environ["BENCH_GATEWAY_PRELOAD"])
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.procs.append(p)
        return p

    def alive(self):
        return self.gateway.poll() is None

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def mock_call(stack, path, body=None):
    req = urllib.request.Request(stack.mock_url + path, data=body)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read().decode())


def receipts_total(m, result):
    return sum(v for k, v in m.items()
               if k.startswith("omnigate_receipts_total") and 'result="%s"' % result in k)


def run_receipts(build, work, count, keys, vapid, max_sms, reference):
    """DESIGN.md §11: receipts ingested per second, verified and applied,
    while the gateway sends at full speed. The mock posts a signed Twilio
    status callback ("delivered") for every SMS it accepts, 100 ms later, to
    POST /v1/receipts/sms-bench; the gateway checks each signature, dedups
    it, finds the request by the provider's id, appends to its history and
    emits its event. The stack is status-embedded's (the policy with the
    status store, which receipts need), so the cost to sends is that
    scenario's figures against these, measured in the same run."""
    stack = Stack(build, work, vapid_private=vapid, push_key=keys, policy="status-embedded")
    try:
        gw = "http://127.0.0.1:%d" % stack.http_port
        mock_call(stack, "/_mock/receipts", json.dumps({
            "urls": {"twilio": gw + "/v1/receipts/sms-bench"}, "delivered": 1, "failed": 0,
            "delay_ms": 100}).encode())
        cpu0 = CpuSample(stack.gateway.pid)
        t0 = time.monotonic()
        loadgen(stack, count, 0, ["--mix", "sms=1", "--quiet"])
        wait_for(lambda: finals(metrics(stack.http_port)) >= count, 3600, "receipts finals",
                 poll=0.2)

        def settled():
            r = mock_call(stack, "/_mock/stats")["receipts"]
            print("\r  receipts         posted %d, pending %d   " % (r["posted"], r["pending"]),
                  end="", file=sys.stderr, flush=True)
            return r["pending"] == 0
        wait_for(settled, 600, "receipts to be posted and answered", poll=0.2)
        print("", file=sys.stderr)
        posted = mock_call(stack, "/_mock/stats")["receipts"]
        m = metrics(stack.http_port)
        applied = receipts_total(m, "applied")
        # Receipts/s from their own events: the first to the last receipt's
        # event on the topic.
        ts = sorted(parse_ts_ms(e["ts"]) for e in read_events(stack)
                    if e.get("raw_status") and not e.get("final"))
        receipt_span = max(1e-3, (ts[-1] - ts[0]) / 1000.0) if len(ts) > 1 else None
        result = summarize("receipts", "Max throughput, SMS, full policy (embedded), and a signed "
                           "delivery receipt for every send (Twilio status callbacks, 100 ms "
                           "after each answer)", stack, count, cpu0, t0,
                           extra={"rate": None, "provider_latency_ms": 0, "policy": "embedded"})
        result["receipts"] = {
            "posted": posted["posted"], "accepted": posted["accepted"],
            "refused": posted["refused"], "retried": posted["retried"],
            "applied": int(applied),
            "bad_signature": int(receipts_total(m, "bad_signature")),
            "unknown": int(receipts_total(m, "unknown")),
            "unavailable": int(receipts_total(m, "unavailable")),
            "events": len(ts),
            "per_s": round(len(ts) / receipt_span, 1) if receipt_span else None,
        }
        result["receipts_per_s_to_max_sms"] = (
            round(result["receipts"]["per_s"] / max_sms, 3)
            if result["receipts"]["per_s"] and max_sms else None)
        if reference and reference.get("sends_per_s"):
            result["sends_ratio_to_status_embedded"] = round(
                result["sends_per_s"] / reference["sends_per_s"], 3)
        log("  receipts: %s receipts/s (%s applied, %d refused); sends/s %.2fx status-embedded's "
            "(DESIGN.md §11: receipts/s >= max-sms's sends/s, sends slowed <= 30%%)" % (
                result["receipts"]["per_s"], result["receipts"]["applied"],
                result["receipts"]["refused"], result.get("sends_ratio_to_status_embedded") or 0))
        return result
    finally:
        stack.close()


def loadgen(stack, count, rate=0, args=(), wait=True):
    argv = [stack.bin("bench/omnigate-loadgen"), "--brokers", stack.bootstrap, "--count",
            str(count), "--rate", str(rate)] + list(args)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE)
    if not wait:
        return p
    out, _ = p.communicate()
    if p.returncode != 0:
        raise RuntimeError("loadgen failed: %s" % out.decode())
    return json.loads(out)


def read_events(stack):
    """Every event on the events topic, as dicts."""
    out = subprocess.run(["kcat", "-C", "-b", stack.bootstrap, "-t", "omnigate.events",
                          "-o", "beginning", "-e", "-q", "-f", "%s\n"],
                         check=True, stdout=subprocess.PIPE).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def parse_ts_ms(ts):
    # "2026-11-25T12:00:01.234Z"
    t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    import calendar
    return calendar.timegm(t) * 1000.0 + float(ts[20:23])


def summarize(name, title, stack, expected, start_cpu, t0, notes="", lane_prefix=None,
              extra=None, warmup_s=0.0):
    """Waits for `expected` finals, then computes the scenario's figures."""
    last = [0, time.monotonic()]

    def done():
        try:
            n = finals(metrics(stack.http_port))
        except OSError as e:  # a slow answer under full load is not a failure yet
            log("\n  %s: /metrics did not answer (%s); still waiting" % (name, e))
            n = last[0]
        if n != last[0]:
            last[0], last[1] = n, time.monotonic()
        print("\r  %-16s finals %d/%d   " % (name, n, expected), end="", file=sys.stderr,
              flush=True)
        if not stack.alive():
            raise RuntimeError("gateway exited; see %s" % stack.path("gateway.log"))
        if time.monotonic() - last[1] > 60:
            raise RuntimeError("no progress for 60 s at %d/%d finals" % (n, expected))
        return n >= expected
    wait_for(done, 3600, name + " finals", poll=0.2)
    print("", file=sys.stderr)
    end_cpu = CpuSample(stack.gateway.pid)
    cpu = end_cpu.total - start_cpu.total
    by_thread = end_cpu.since(start_cpu)
    rss = peak_rss_mib(stack.gateway.pid)
    events = read_events(stack)
    final, accepted = {}, {}
    for e in events:
        if e.get("final"):
            final[e["id"]] = e
        elif e.get("status") == "accepted":
            accepted[e["id"]] = parse_ts_ms(e["ts"])
    lat, lane_lat, timeline = [], [], Counter()
    # Where the time goes: publish → `accepted` (the load generator's
    # producer, the broker, the consumer's fetch) and `accepted` → final
    # (the gateway's pipeline and the provider call).
    to_accepted, in_gateway = [], []
    by_second = {}  # second of publishing → latencies: shows a latency that drifts with run length
    all_lat = []
    first_pub, last_final = None, None
    samples = []
    for rid, e in final.items():
        parts = rid.rsplit("-", 1)
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        pub_ms = int(parts[1]) / 1000.0
        fin_ms = parse_ts_ms(e["ts"])
        first_pub = pub_ms if first_pub is None else min(first_pub, pub_ms)
        last_final = fin_ms if last_final is None else max(last_final, fin_ms)
        samples.append((rid, pub_ms, max(0.0, fin_ms - pub_ms)))
    # Latency percentiles leave out requests published in the first
    # `warmup_s` (connections to the provider opening, first commit); the
    # figure with them is kept as latency_ms_all.
    for rid, pub_ms, l in samples:
        all_lat.append(l)
        if pub_ms - first_pub < warmup_s * 1000.0:
            continue
        lat.append(l)
        if lane_prefix and rid.startswith(lane_prefix):
            lane_lat.append(l)
        by_second.setdefault(int((pub_ms - first_pub) // 1000), []).append(l)
        acc_ms = accepted.get(rid)
        if acc_ms is not None:
            to_accepted.append(max(0.0, acc_ms - pub_ms))
            in_gateway.append(max(0.0, pub_ms + l - acc_ms))
    all_lat.sort()
    to_accepted.sort()
    in_gateway.sort()
    for e in final.values():
        if first_pub is not None:
            timeline[int((parse_ts_ms(e["ts"]) - first_pub) // 1000)] += 1
    lat.sort()
    lane_lat.sort()
    statuses = Counter(e["status"] for e in final.values())
    sent = statuses.get("sent", 0) + statuses.get("delivered", 0) + statuses.get("read", 0)
    span = max(1e-3, ((last_final or 0) - (first_pub or 0)) / 1000.0)
    cdf, n = [], len(lat)
    for q in [i / 200.0 for i in range(1, 201)]:
        if n:
            cdf.append([round(lat[min(n - 1, int(q * (n - 1)))], 3), q])
    result = {
        "name": name, "title": title, "requests": expected, "duration_s": round(span, 3),
        "sends_per_s": round(sent / span, 1), "finals_per_s": round(len(final) / span, 1),
        "latency_ms": {k: pct(lat, p) for k, p in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9))},
        "latency_ms_all": {k: pct(all_lat, p) for k, p in (("p50", 50), ("p99", 99))},
        "latency_p99_by_second": [[sec, pct(sorted(v), 99)] for sec, v in sorted(by_second.items())],
        "latency_split_ms": {
            "publish_to_accepted": {k: pct(to_accepted, p) for k, p in (("p50", 50), ("p99", 99))},
            "accepted_to_final": {k: pct(in_gateway, p) for k, p in (("p50", 50), ("p99", 99))},
        },
        "warmup_s": warmup_s,
        "gateway_cpu_s": round(cpu, 3),
        "cpu_us_per_send": round(cpu * 1e6 / max(1, len(final)), 2),
        # Where that CPU went: per thread group, user and system µs per send.
        "cpu_us_per_send_by_thread": {
            g: {"user": round(u * 1e6 / max(1, len(final)), 2),
                "system": round(st * 1e6 / max(1, len(final)), 2)}
            for g, (u, st) in sorted(by_thread.items()) if u + st > 0},
        "peak_rss_mib": round(rss, 1),
        "statuses": dict(statuses),
        "timeline": sorted(timeline.items()),
        "latency_cdf": cdf,
        "notes": notes,
    }
    result["latency_ms"]["max"] = lat[-1] if lat else None
    if lane_prefix:
        result["transactional_latency_ms"] = {
            k: pct(lane_lat, p) for k, p in (("p50", 50), ("p90", 90), ("p99", 99))}
        result["transactional_requests"] = len(lane_lat)
    if extra:
        result.update(extra)
    log("  %s: %.0f sends/s, p50 %s ms, p99 %s ms, %.1f us CPU/send, RSS %.0f MiB" % (
        name, result["sends_per_s"], result["latency_ms"]["p50"], result["latency_ms"]["p99"],
        result["cpu_us_per_send"], rss))
    log("  %s: CPU/send by thread (user+system us): %s" % (name, ", ".join(
        "%s %.1f+%.1f" % (g, v["user"], v["system"])
        for g, v in sorted(result["cpu_us_per_send_by_thread"].items(),
                           key=lambda kv: -(kv[1]["user"] + kv[1]["system"])))))
    return result


def run_max(build, work, name, title, count, mix, keys, vapid, extra_args=(), **stack_args):
    stack = Stack(build, work, vapid_private=vapid, push_key=keys, **stack_args)
    try:
        cpu0 = CpuSample(stack.gateway.pid)
        redis_cpu0 = cpu_seconds(stack.redis.pid) if stack.redis else None
        args = ["--mix", mix, "--quiet"] + sum((["--push-key", k] for k in keys), []) + \
            list(extra_args)
        t0 = time.monotonic()
        loadgen(stack, count, 0, args)
        result = summarize(name, title, stack, count, cpu0, t0,
                           extra={"provider_latency_ms": stack_args.get("provider_latency_ms", 0),
                                  "max_in_flight": stack_args.get("max_in_flight", 20000),
                                  "rate": None})
        if stack.redis and result.get("requests"):
            # redis-server's own CPU, beside the gateway's (not in its figure).
            used = cpu_seconds(stack.redis.pid) - redis_cpu0
            result["redis_cpu_us_per_send"] = round(used * 1e6 / result["requests"], 2)
            log("  %s: redis-server %.1f us CPU/send" % (name, result["redis_cpu_us_per_send"]))
        return result
    finally:
        stack.close()


MAX_SMS_TITLE = "Max throughput, SMS (Twilio API)"


def paired_rounds(scenario, plain, rounds, run):
    """A §11 policy ratio from `rounds` pairs of runs: the first pair is the
    scenario's own run and max-sms's, the others run max-sms and the scenario
    back to back (alternating which goes first). A neighbour busy for a minute
    moves both runs of a pair alike, and the median pair's ratio is reported;
    the scenario's figures become that pair's, so that they divide to it."""
    pairs = [{"max_sms_cpu_us": plain["cpu_us_per_send"],
              "cpu_us": scenario["cpu_us_per_send"], "scenario": scenario}]
    for r in range(1, rounds):
        order = ["max-sms", scenario["name"]] if r % 2 == 0 else [scenario["name"], "max-sms"]
        ran = {which: run(r, which) for which in order}
        a, b = ran["max-sms"].get("cpu_us_per_send"), ran[scenario["name"]].get("cpu_us_per_send")
        if a and b:
            pairs.append({"max_sms_cpu_us": a, "cpu_us": b, "scenario": ran[scenario["name"]]})
            log("  %s: pair %d, CPU per send %.1f us vs max-sms %.1f us: %.2fx" % (
                scenario["name"], r + 1, b, a, b / a))
    for p in pairs:
        p["ratio"] = round(p["cpu_us"] / p["max_sms_cpu_us"], 3)
    median = sorted(pairs, key=lambda p: p["ratio"])[(len(pairs) - 1) // 2]
    keep = {k: scenario[k] for k in ("name", "title", "policy", "policy_cpu_limit") if k in scenario}
    chosen = dict(median["scenario"])  # may be `scenario` itself
    scenario.clear()
    scenario.update(chosen)
    scenario.update(keep)
    scenario["no_policy_cpu_us_per_send"] = median["max_sms_cpu_us"]
    scenario["cpu_ratio_to_no_policy"] = median["ratio"]
    scenario["cpu_ratio_rounds"] = [{k: p[k] for k in ("max_sms_cpu_us", "cpu_us", "ratio")}
                                    for p in pairs]
    log("  %s: median of %d pairs %.2fx (pairs: %s)" % (
        scenario["name"], len(pairs), median["ratio"],
        ", ".join("%.2fx" % p["ratio"] for p in pairs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/results.json"))
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--ratio-rounds", type=int, default=int(os.environ.get("BENCH_RATIO_ROUNDS", 3)),
                    help="paired runs (max-sms beside the scenario) behind each §11 policy ratio; "
                         "the median pair's ratio is reported")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    fd_limit = raise_file_limit()
    short = args.short
    only = set(filter(None, args.only.split(",")))
    work = tempfile.mkdtemp(prefix="omnigate-bench-")
    omnigate = os.path.join(build, "gateway/omnigate")

    def vapid():
        out = subprocess.run([omnigate, "vapid-keys", "--json"], check=True,
                             stdout=subprocess.PIPE).stdout
        return json.loads(out)
    vapid_private = vapid()["privateKey"]
    push_keys = [vapid()["publicKey"] for _ in range(4)]

    def want(name, group=None):
        """`--only` takes scenario names, or a group's name for all of it
        (max-sms-tls: both HTTP clients over TLS)."""
        return not only or name in only or (group is not None and group in only)

    scale = 0.2 if short else 1.0
    scenarios = []
    sweep = []
    results = {"command": "make bench-short" if short else "make bench",
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     stdout=subprocess.PIPE).stdout.decode().strip(),
               "short": short, "machine": machine(), "scenarios": scenarios,
               "concurrency_sweep": sweep, "ceiling": None, "kannel": None}
    try:
        for name, title, mix, count in [
                ("max-sms", MAX_SMS_TITLE, "sms=1", 300000),
                ("max-email", "Max throughput, email (SendGrid API)", "email=1", 100000),
                ("max-viber", "Max throughput, Viber (REST API)", "viber=1", 100000),
                ("max-webpush", "Max throughput, web push (RFC 8291 encryption, VAPID)",
                 "webpush=1", 50000)]:
            if want(name):
                log("== %s" % name)
                scenarios.append(run_max(build, os.path.join(work, name), name, title,
                                         int(count * scale), mix, push_keys, vapid_private))
        # DESIGN.md §11: CPU per send to an HTTPS provider (TLS, keep-alive)
        # within 1.3x of the plain-HTTP figure (max-sms). Same load shape as
        # max-sms; the mock offers h2 and http/1.1 by ALPN, so `auto` (libcurl
        # for https://) negotiates h2 and `native` (the gateway's own client)
        # keeps HTTP/1.1 keep-alive connections.
        for name, client, what in [
                ("max-sms-tls-auto", "auto", "libcurl, h2 by ALPN"),
                ("max-sms-tls-native", "native", "the gateway's HTTP/1.1 client")]:
            if want(name, group="max-sms-tls"):
                log("== %s" % name)
                scenarios.append(run_max(
                    build, os.path.join(work, name), name,
                    "Max throughput, SMS (Twilio API) over HTTPS, http_client: %s (%s)" % (
                        client, what),
                    int(300000 * scale), "sms=1", push_keys, vapid_private, tls=True,
                    http_client=client))
                scenarios[-1].update({"tls": True, "http_client": client})
                plain = next((s for s in scenarios if s["name"] == "max-sms"), None)
                if plain and plain.get("cpu_us_per_send"):
                    ratio = scenarios[-1]["cpu_us_per_send"] / plain["cpu_us_per_send"]
                    scenarios[-1]["cpu_ratio_to_plain"] = round(ratio, 3)
                    log("  %s: CPU per send %.2fx max-sms's (DESIGN.md §11: <= 1.3x)" % (
                        name, ratio))
        # DESIGN.md §11: CPU per send with the full policy on, as a ratio to
        # max-sms (no policy) measured in the same run: <= 1.3x embedded,
        # <= 1.6x redis (the gateway's CPU only; redis-server's is reported
        # beside it).
        # status-embedded: the same with the status store on, as `omnigate
        # run` has it by default (each request's history and its provider id
        # recorded for GET /v1/messages and receipts). §11 sets no ratio for
        # it; it is reported against max-sms and policy-embedded.
        for name, backend, limit in [("policy-embedded", "embedded", 1.3),
                                     ("policy-redis", "redis", 1.6),
                                     ("status-embedded", "status-embedded", None)]:
            if want(name, group="policy"):
                log("== %s" % name)
                what = ("full policy on (%s state store): id dedup, opt-out lookups, frequency "
                        "caps on every request" % backend)
                if backend == "status-embedded":
                    what = ("full policy and the status store on (embedded state store, the "
                            "default config): policy-embedded plus each request's history "
                            "and provider id recorded")
                def run_sms(which, label, what=what, backend=backend):
                    """max-sms's load, with this scenario's policy unless `which`
                    is max-sms; `label` names its work directory."""
                    if which == "max-sms":
                        return run_max(build, os.path.join(work, label), which,
                                       MAX_SMS_TITLE, int(300000 * scale),
                                       "sms=1", push_keys, vapid_private)
                    return run_max(build, os.path.join(work, label), which,
                                   "Max throughput, SMS, " + what, int(300000 * scale), "sms=1",
                                   push_keys, vapid_private, policy=backend)
                scenarios.append(run_sms(name, name))
                scenarios[-1].update({"policy": backend})
                if limit is not None:
                    scenarios[-1]["policy_cpu_limit"] = limit
                plain = next((s for s in scenarios if s["name"] == "max-sms"), None)
                if plain and plain.get("cpu_us_per_send"):
                    ratio = scenarios[-1]["cpu_us_per_send"] / plain["cpu_us_per_send"]
                    scenarios[-1]["cpu_ratio_to_no_policy"] = round(ratio, 3)
                    log("  %s: CPU per send %.2fx max-sms's (%s)" % (
                        name, ratio, "DESIGN.md §11: <= %.1fx" % limit if limit else
                        "no target: the status store's cost"))
                    if limit is not None and args.ratio_rounds > 1:
                        paired_rounds(scenarios[-1], plain, args.ratio_rounds,
                                      lambda r, which: run_sms(which, "%s-%d" % (which, r)))
                policy = next((s for s in scenarios if s["name"] == "policy-embedded"), None)
                if (backend == "status-embedded" and policy and policy.get("cpu_us_per_send")
                        and scenarios[-1].get("cpu_us_per_send")):
                    extra = scenarios[-1]["cpu_us_per_send"] / policy["cpu_us_per_send"]
                    scenarios[-1]["cpu_ratio_to_policy"] = round(extra, 3)
                    log("  status-embedded: CPU per send %.2fx policy-embedded's" % extra)
        max_sms = next((s["sends_per_s"] for s in scenarios if s["name"] == "max-sms"), 20000)
        if want("receipts"):
            log("== receipts")
            scenarios.append(run_receipts(
                build, os.path.join(work, "receipts"), int(200000 * scale), push_keys,
                vapid_private, max_sms,
                next((s for s in scenarios if s["name"] == "status-embedded"), None)))

        if want("pipeline-only"):
            # Every request invalid: consumed, decoded, validated, a DLQ record
            # and a final event produced, no provider call. Its CPU per request
            # is the gateway's cost without HTTP, beside the HTTP client's
            # alone (ceiling.sh) and max-sms (both).
            log("== pipeline-only")
            scenarios.append(run_max(build, os.path.join(work, "pipeline-only"), "pipeline-only",
                                     "Pipeline without provider calls: every request invalid "
                                     "(decode, validate, DLQ record + rejected event)",
                                     int(300000 * scale), "sms=1", push_keys, vapid_private,
                                     extra_args=["--invalid-ratio", "1"]))

        if want("mixed"):
            log("== mixed")
            stack = Stack(build, os.path.join(work, "mixed"), vapid_private=vapid_private)
            try:
                cpu0 = CpuSample(stack.gateway.pid)
                count = int(200000 * scale)
                loadgen(stack, count, 0, ["--quiet", "--mix",
                                          "sms=0.5,email=0.25,viber=0.15,webpush=0.1",
                                          "--cascade-ratio", "0.2", "--bulk-ratio", "0.5",
                                          "--invalid-ratio", "0.01"] +
                        sum((["--push-key", k] for k in push_keys), []))
                scenarios.append(summarize(
                    "mixed", "Mixed load: 50% SMS (20% Viber-first), 25% email, 15% Viber, "
                    "10% web push, half bulk, 1% invalid", stack, count, cpu0, 0,
                    extra={"rate": None, "provider_latency_ms": 0}))
            finally:
                stack.close()

        if want("half-rate"):
            rate = max(100, int(max_sms / 2))
            log("== half-rate (%d/s)" % rate)
            stack = Stack(build, os.path.join(work, "half-rate"), kafka_extra=LOW_LATENCY_FETCH)
            try:
                cpu0 = CpuSample(stack.gateway.pid)
                count = int(rate * (5 if short else 15))
                loadgen(stack, count, rate, ["--quiet"])
                scenarios.append(summarize(
                    "half-rate", "Latency at half the max SMS rate (%d/s), provider answering "
                    "at once" % rate, stack, count, cpu0, 0, warmup_s=1.0,
                    extra={"rate": rate, "provider_latency_ms": 0},
                    notes=LOW_LATENCY_NOTE + "Latency percentiles leave out the first second of "
                          "publishes (connections opening); latency_ms_all has them."))
            finally:
                stack.close()

        if want("lanes"):
            log("== lanes")
            stack = Stack(build, os.path.join(work, "lanes"), kafka_extra=LOW_LATENCY_FETCH)
            try:
                cpu0 = CpuSample(stack.gateway.pid)
                backlog = 100000 if short else 1000000
                trickle_rate, trickle_s = 200, (5 if short else 10)
                bulk = loadgen(stack, backlog, 0, ["--quiet", "--bulk-ratio", "1",
                                                   "--id-prefix", "bulk"], wait=False)
                # Transactional requests start once the backlog is building.
                wait_for(lambda: metrics(stack.http_port).get(
                    'omnigate_requests_consumed_total{lane="bulk"}', 0) > 20000, 120,
                    "bulk backlog")
                loadgen(stack, trickle_rate * trickle_s, trickle_rate,
                        ["--quiet", "--id-prefix", "txn"])
                bulk.communicate()
                scenarios.append(summarize(
                    "lanes", "Transactional latency (%d/s) while %d bulk requests drain" % (
                        trickle_rate, backlog), stack, backlog + trickle_rate * trickle_s,
                    cpu0, 0, lane_prefix="txn-", warmup_s=1.0,
                    extra={"rate": None, "provider_latency_ms": 0},
                    notes=LOW_LATENCY_NOTE + "Latency percentiles leave out the first second of "
                          "publishes."))
            finally:
                stack.close()

        if want("provider-latency"):
            latencies = [100] if short else [50, 100, 200]
            # Each request in flight is a connection: the top of the sweep stays
            # 4,096 descriptors under the limit the gateway gets (this box's
            # hard limit may be below the unit's 65,536).
            top = min(20000, max(5000, (fd_limit - 4096) // 1000 * 1000))
            if top < 20000:
                log("  descriptor limit %d: the sweep tops out at %d in flight" % (fd_limit, top))
            # The short form keeps one point (each scenario costs ~3 s of
            # consumer-group start-up on the embedded broker: its first
            # rebalance waits 3 s, as group.initial.rebalance.delay.ms would).
            inflights = [5000] if short else [1000, 5000, top]
            for lat in latencies:
                for inflight in inflights:
                    name = "latency-%dms-if%d" % (lat, inflight)
                    log("== %s" % name)
                    count = int(min(100000, inflight * 1000 / lat * 3) * (0.5 if short else 1))
                    r = run_max(build, os.path.join(work, name), name,
                                "Provider latency %d ms, max_in_flight %d" % (lat, inflight),
                                count, "sms=1", push_keys, vapid_private,
                                provider_latency_ms=lat, max_in_flight=inflight,
                                per_partition=inflight, provider_in_flight=inflight,
                                mock_threads=2)
                    sweep.append({"max_in_flight": inflight, "provider_latency_ms": lat,
                                  "sends_per_s": r["sends_per_s"],
                                  "littles_law_bound": round(inflight * 1000.0 / lat, 1)})
                    if inflight == inflights[-1]:
                        scenarios.append(r)

        if want("inflight-100k"):
            log("== inflight-100k")
            target = 100000
            stack = Stack(build, os.path.join(work, "inflight"), provider_latency_ms=1000,
                          max_in_flight=target, per_partition=target // 8,
                          provider_in_flight=2000)
            try:
                cpu0 = CpuSample(stack.gateway.pid)
                lg = loadgen(stack, int(target * 1.2), 0, ["--quiet"], wait=False)
                peak = wait_for(lambda: (lambda v: v if v >= target * 0.98 else 0)(
                    metrics(stack.http_port).get("omnigate_in_flight", 0)), 300,
                    "100k in flight")
                rss = peak_rss_mib(stack.gateway.pid)
                lg.communicate()
                scenarios.append({
                    "name": "inflight-100k",
                    "title": "Gateway memory with %d requests in flight (provider at 1 s, "
                             "2,000 concurrent)" % target,
                    "requests": int(target * 1.2), "in_flight": int(peak),
                    "peak_rss_mib": round(rss, 1),
                    "gateway_cpu_s": round(CpuSample(stack.gateway.pid).total - cpu0.total, 3),
                    "notes": "RSS is the gateway's VmHWM when in-flight first reached %d." % int(
                        peak)})
                log("  inflight-100k: %d in flight, peak RSS %.0f MiB" % (peak, rss))
            finally:
                stack.close()
    finally:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        log("results: %s (scratch: %s)" % (args.out, work))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
