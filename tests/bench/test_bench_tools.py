#!/usr/bin/env python3
"""Tests for bench/report.py, bench/plan.py and bench/omnigate-bench on synthetic results."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("throughput_over_time.png", "latency_cdf.png", "throughput_vs_concurrency.png")


def scenario(name, sends, cpu_us=None, p99=None, rss=None, **extra):
    s = {"name": name, "title": name.replace("-", " ").title(), "requests": 200000,
         "duration_s": 200000 / sends, "sends_per_s": sends, "finals_per_s": sends,
         "latency_ms": {"p50": 3.0, "p90": 6.0, "p99": p99 if p99 is not None else 12.0,
                        "p999": 30.0, "max": 80.0},
         "gateway_cpu_s": 4.2, "cpu_us_per_send": cpu_us, "peak_rss_mib": rss or 120.0,
         "provider_latency_ms": 0, "max_in_flight": 20000, "rate": None,
         "statuses": {"sent": 199000, "rejected": 1000},
         "timeline": [[0, 1200], [1, sends], [2, sends * 0.98], [3, 800]],
         "latency_cdf": [[0.5, 0.01], [1.0, 0.05], [3.0, 0.5], [12.0, 0.99], [80.0, 1.0]],
         "notes": "notes for " + name}
    s.update(extra)
    return s


FULL = {
    "command": "make bench", "started": "2026-11-25T12:00:00Z", "git": "abc123", "short": False,
    "machine": {"cpu": "Test CPU @ 3 GHz", "cores": 2, "mem_gib": 24.0, "kernel": "6.1.0",
                "os": "Debian GNU/Linux 12"},
    "scenarios": [
        scenario("max-sms", 39000.0, cpu_us=21.5),
        # The best max-* scenario: sends/s MISS, CPU per send PASS.
        scenario("max-generic", 41000.0, cpu_us=19.0),
        # Over TLS: ratios to max-sms's CPU per send, never the best max-* (even when faster).
        scenario("max-sms-tls-auto", 20000.0, cpu_us=43.0, tls=True, http_client="auto"),
        scenario("max-sms-tls-native", 45000.0, cpu_us=25.8, tls=True, http_client="native"),
        # Full policy on: ratios to max-sms's CPU per send (1.3x embedded, 1.6x redis).
        scenario("policy-embedded", 15000.0, cpu_us=43.0, policy="embedded"),
        # Paired runs: the median pair's figures, divided by its own max-sms run.
        scenario("policy-redis", 20000.0, cpu_us=28.0, policy="redis", redis_cpu_us_per_send=20.0,
                 no_policy_cpu_us_per_send=20.0,
                 cpu_ratio_rounds=[{"max_sms_cpu_us": 21.5, "cpu_us": 40.0, "ratio": 1.86},
                                   {"max_sms_cpu_us": 20.0, "cpu_us": 28.0, "ratio": 1.4},
                                   {"max_sms_cpu_us": 25.0, "cpu_us": 30.0, "ratio": 1.2}]),
        # The default config (policy + status store): reported, no target.
        scenario("status-embedded", 12000.0, cpu_us=51.6, policy="status-embedded"),
        scenario("half-rate", 20500.0, cpu_us=22.0, p99=12.0, rate=20500,
                 latency_split_ms={"publish_to_accepted": {"p50": 2.0, "p99": 9.5},
                                   "accepted_to_final": {"p50": 1.0, "p99": 3.25}},
                 latency_p99_by_second=[[0, 6.0], [1, 8.5], [2, 31.0]]),
        scenario("pipeline-only", 61000.0, cpu_us=9.5, sends_per_s=0.0),
        scenario("lanes", 30000.0, cpu_us=22.0, transactional_latency_ms={"p50": 9.0, "p99": 61.0}),
        scenario("inflight-100k", 9000.0, cpu_us=25.0, rss=200.0, max_in_flight=100000,
                 provider_latency_ms=10000),
    ],
    "concurrency_sweep": [
        {"max_in_flight": m, "provider_latency_ms": lat, "sends_per_s": min(m / (lat / 1000.0), 40000)}
        for lat in (20, 100) for m in (500, 2000, 8000, 20000)
    ],
    "ceiling": {"tool": "wrk", "target": "mock provider POST /generic/send",
                "requests_per_s": 82000.0, "wrk_cpu_us_per_request": 5.04,
                "omnigate_http_client": {"tool": "omnigate-transport-bench", "concurrency": 64,
                                         "requests_per_s": 30000.0,
                                         "cpu_us_per_request": 17.2},
                "omnigate_http_client_curl": {"tool": "omnigate-transport-bench",
                                              "concurrency": 64, "requests_per_s": 20000.0,
                                              "cpu_us_per_request": 21.4},
                "omnigate_http_client_tls": {"concurrency": 64, "requests_per_s": 60000.0,
                                             "cpu_us_per_request": 12.0},
                "omnigate_http_client_curl_tls": {"concurrency": 64, "requests_per_s": 20000.0,
                                                  "cpu_us_per_request": 40.0},
                "nginx": {"tool": "wrk", "target": "nginx/1.22.1, return 201",
                          "requests_per_s": 100000.0, "wrk_cpu_us_per_request": 8.0,
                          "server_cpu_us_per_request": 7.5, "notes": "nginx notes"},
                "nginx_tls": {"tool": "wrk", "target": "nginx/1.22.1 over TLS, return 201",
                              "requests_per_s": 60000.0, "wrk_cpu_us_per_request": 14.0,
                              "server_cpu_us_per_request": 13.0}},
    "micro": [{"name": "BM_WebPushEncrypt/100", "cpu_us": 146.065},
              {"name": "BM_DecodeSmsRequest", "cpu_us": 0.582}],
    "kannel": {"version": "1.4.5", "sends_per_s": 2900.0, "requests": 20000,
               "notes": "sendsms to an HTTP SMSC"},
}


def run(*args):
    return subprocess.run([sys.executable] + list(args), capture_output=True, text=True,
                          timeout=120)


def table_row(text, first_cell):
    """The cells of the Markdown table row whose first cell is first_cell."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError("no table row %r in:\n%s" % (first_cell, text))


class Tmp(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write_results(self, results, name="results.json"):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f)
        return path


class ReportTest(Tmp):
    def report(self, results):
        src = self.write_results(results)
        out = os.path.join(self.dir, "out")
        r = run(os.path.join(BENCH, "report.py"), src, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "REPORT.md"), encoding="utf-8") as f:
            return f.read(), out

    def test_full_results(self):
        text, out = self.report(FULL)
        self.assertIn("# Omnigate benchmark report", text)
        self.assertIn("`make bench` started 2026-11-25T12:00:00Z, git `abc123`", text)
        self.assertIn("| CPU | Test CPU @ 3 GHz |", text)
        self.assertIn("## Targets (DESIGN.md §11)", text)

        row = table_row(text, "end-to-end sends/s")
        self.assertEqual(row[1:], ["≥ 50,000/s", "41,000/s (max-generic)", "MISS"])
        row = table_row(text, "gateway CPU per send")
        self.assertEqual(row[1:], ["≤ 20 µs", "19.0 µs (max-generic)", "PASS"])
        row = table_row(text, "p99 latency at half the max rate")
        self.assertEqual(row[2:], ["12.0 ms (half-rate)", "PASS"])
        # DESIGN.md §11's ratios, against wrk → nginx.
        row = table_row(text, "end-to-end sends/s ÷ HTTP ceiling (wrk → nginx)")
        self.assertEqual(row[1:], ["≥ 0.6×", "0.41× (max-generic 41,000/s ÷ nginx 100,000/s)",
                                   "MISS"])
        row = table_row(text, "gateway CPU per send ÷ wrk's CPU per request (wrk → nginx)")
        self.assertEqual(row[1:], ["≤ 2×", "2.38× (max-generic 19.0 µs ÷ wrk 8.0 µs)", "MISS"])
        row = table_row(text, "gateway CPU per send to an HTTPS provider ÷ plain HTTP "
                              "(`http_client: native`)")
        self.assertEqual(row[1:], ["≤ 1.3×", "1.20× (max-sms-tls-native 25.8 µs ÷ max-sms "
                                             "21.5 µs)", "PASS"])
        row = table_row(text, "gateway CPU per send to an HTTPS provider ÷ plain HTTP "
                              "(`http_client: auto`)")
        self.assertEqual(row[2:], ["2.00× (max-sms-tls-auto 43.0 µs ÷ max-sms 21.5 µs)", "MISS"])
        row = table_row(text, "gateway CPU per send, full policy on (embedded state) ÷ no policy")
        self.assertEqual(row[1:], ["≤ 1.3×", "2.00× (policy-embedded 43.0 µs ÷ max-sms 21.5 µs)",
                                   "MISS"])
        row = table_row(text, "gateway CPU per send, policy + status store (embedded, the "
                              "default config) ÷ no policy")
        self.assertEqual(row[1:], ["no target", "2.40× (status-embedded 51.6 µs ÷ max-sms 21.5 "
                                                "µs)", "–"])
        row = table_row(text, "gateway CPU per send, full policy on (redis state) ÷ no policy")
        self.assertEqual(row[1:], ["≤ 1.6×", "1.40× (median of 3 paired runs, 1.20–1.86×; in it "
                                             "policy-redis 28.0 µs ÷ max-sms 20.0 µs; "
                                             "redis-server 20.0 µs/send besides)", "PASS"])
        self.assertEqual(table_row(text, "HTTP ceiling (wrk → nginx/1.22.1, return 201)")[2],
                         "100,000 requests/s")
        self.assertEqual(table_row(text, "CPU per HTTP request against nginx: wrk (client "
                                         "side), server")[2], "8.0 µs, 7.5 µs")
        self.assertEqual(table_row(text, "omnigate ÷ HTTP ceiling (nginx)")[2],
                         "41.0 % (max-generic)")
        self.assertEqual(table_row(text, "wrk's CPU per request over TLS ÷ plain (nginx)")[2],
                         "1.75×")
        self.assertEqual(table_row(text, "CPU per HTTP request, omnigate's HTTP/1.1 client alone "
                                         "over TLS (`http_client: native`)")[2], "12.0 µs")
        self.assertEqual(table_row(text, "max-sms-tls-native: sends/s, CPU per send")[2],
                         "45,000/s, 25.8 µs")
        self.assertIn("### HTTP ceiling (nginx)\n\nnginx notes", text)
        row = table_row(text, "transactional p99 while bulk drains")
        self.assertEqual(row[2:], ["61.0 ms (lanes)", "MISS"])
        row = table_row(text, "gateway RSS with 100,000 in flight")
        self.assertEqual(row[2:], ["200.0 MiB (inflight-100k)", "PASS"])

        # Kannel ratio from the best max-sms scenario; ceiling fraction from the best max-*.
        self.assertEqual(table_row(text, "Kannel 1.4.5 sendsms → HTTP SMSC")[2], "2,900/s")
        self.assertEqual(table_row(text, "omnigate ÷ Kannel")[2], "13.4× (max-sms)")
        self.assertEqual(table_row(text, "omnigate ÷ HTTP ceiling")[2], "50.0 % (max-generic)")
        self.assertEqual(table_row(text, "CPU per HTTP request, wrk (client side)")[2], "5.0 µs")
        self.assertEqual(table_row(text, "CPU per HTTP request, omnigate's HTTP/1.1 client alone "
                                         "(64 outstanding)")[2], "17.2 µs")
        self.assertEqual(table_row(text, "CPU per HTTP request, the same through libcurl "
                                         "multi_socket (`http_client: curl`)")[2], "21.4 µs")
        self.assertEqual(table_row(text, "HTTP client's share of gateway CPU per send")[2],
                         "80 % (max-sms)")
        self.assertEqual(table_row(text, "half-rate p99, publish → accepted (load generator's "
                                         "producer, embedded broker, consumer fetch)")[2], "9.5 ms")
        self.assertEqual(table_row(text, "half-rate p99, accepted → final event (the gateway's "
                                         "pipeline and the provider call)")[2], "3.2 ms")
        self.assertEqual(table_row(text, "half-rate p99 by second of publishing (the embedded "
                                         "broker's cost per fetch grows with its log, "
                                         "bench/README.md)")[2], "1s: 6.0 ms, 2s: 8.5 ms, 3s: 31.0 ms")
        self.assertEqual(table_row(text, "BM_WebPushEncrypt/100")[1], "146.065")
        self.assertEqual(table_row(text, "CPU per request without provider calls (pipeline-only: "
                                         "consume, decode, DLQ record + final event)")[2], "9.5 µs")
        self.assertEqual(table_row(text, "pipeline-only")[3], "0 (61,000 finals/s)")

        row = table_row(text, "max-sms")
        self.assertEqual(row[2:], ["200,000", "39,000", "3.0", "6.0", "12.0", "30.0", "21.5",
                                   "120.0 MiB"])
        self.assertNotIn(NOT_MEASURED, text)
        for name in PLOTS:
            self.assertIn("](%s)" % name, text)
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC, name)
        self.assertIn("notes for inflight-100k", text)
        self.assertIn("sent 199,000, rejected 1,000", text)

    def test_missing_parts(self):
        results = copy.deepcopy(FULL)
        results["scenarios"] = [scenario("max-sms", 50000.0, cpu_us=20.0)]  # both exactly on target
        results["concurrency_sweep"] = []
        results["kannel"] = None
        del results["ceiling"]
        text, out = self.report(results)
        self.assertEqual(table_row(text, "end-to-end sends/s")[3], "PASS")
        self.assertEqual(table_row(text, "gateway CPU per send")[3], "PASS")
        for figure in ("p99 latency at half the max rate", "transactional p99 while bulk drains",
                       "gateway RSS with 100,000 in flight"):
            self.assertEqual(table_row(text, figure)[2:], [NOT_MEASURED, "–"], figure)
        self.assertEqual(table_row(text, "Kannel sendsms → HTTP SMSC")[2], NOT_MEASURED)
        self.assertEqual(table_row(text, "HTTP ceiling (wrk)")[2], NOT_MEASURED)
        self.assertIn("Concurrency sweep " + NOT_MEASURED, text)
        self.assertFalse(os.path.exists(os.path.join(out, "throughput_vs_concurrency.png")))
        self.assertNotIn("](throughput_vs_concurrency.png)", text)
        for name in PLOTS[:2]:
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC, name)

    def test_unreadable_results(self):
        r = run(os.path.join(BENCH, "report.py"), os.path.join(self.dir, "nope.json"), self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot read", r.stderr)


NOT_MEASURED = "not measured in this run"


def import_harness():
    """bench/harness.py as a module (it is a script, not on the path)."""
    sys.path.insert(0, BENCH)
    try:
        import harness
    finally:
        sys.path.remove(BENCH)
    return harness


class PairedRoundsTest(unittest.TestCase):
    """harness.paired_rounds: the §11 policy ratio from paired runs."""

    def test_median_pair_decides(self):
        harness = import_harness()
        plain = scenario("max-sms", 40000.0, cpu_us=20.0)
        pol = scenario("policy-embedded", 30000.0, cpu_us=40.0, policy="embedded",
                       policy_cpu_limit=1.3)
        # Pair 1 (the scenario's own run) 2.0x; pair 2 1.25x; pair 3 1.1x.
        figures = {1: {"max-sms": 24.0, "policy-embedded": 30.0},
                   2: {"max-sms": 30.0, "policy-embedded": 33.0}}
        calls = []

        def run(r, which):
            calls.append((r, which))
            return scenario(which, 1.0, cpu_us=figures[r][which], notes="round %d" % r)
        harness.paired_rounds(pol, plain, 3, run)
        # Each extra pair runs both, the scenario first in odd rounds.
        self.assertEqual(calls, [(1, "policy-embedded"), (1, "max-sms"),
                                 (2, "max-sms"), (2, "policy-embedded")])
        self.assertEqual(pol["cpu_ratio_to_no_policy"], 1.25)
        self.assertEqual(pol["cpu_us_per_send"], 30.0)
        self.assertEqual(pol["no_policy_cpu_us_per_send"], 24.0)
        self.assertEqual(pol["notes"], "round 1")
        # The scenario keeps its own name, title and limit.
        self.assertEqual((pol["name"], pol["policy_cpu_limit"]), ("policy-embedded", 1.3))
        self.assertEqual([r["ratio"] for r in pol["cpu_ratio_rounds"]], [2.0, 1.25, 1.1])


class CpuSampleTest(unittest.TestCase):
    """harness.CpuSample: a process's CPU by thread group, between two reads."""

    def test_split_by_thread_group(self):
        harness = import_harness()
        self.assertEqual(harness.thread_group("og-worker-12"), "og-worker")
        self.assertEqual(harness.thread_group("rdk:broker#3"), "rdk:broker")
        self.assertEqual(harness.thread_group("rdk:broker-1"), "rdk:broker")
        self.assertEqual(harness.thread_group("rocksdb:high"), "rocksdb:high")
        self.assertEqual(harness.thread_group("omnigate"), "omnigate")
        # A child whose named thread spins until told to stop: its CPU shows
        # under its group, the idle main thread's hardly at all.
        code = ("import ctypes, threading, sys\n"
                "libc = ctypes.CDLL(None)\n"
                "stop = threading.Event()\n"
                "def spin():\n"
                "    libc.prctl(15, b'og-spin-1', 0, 0, 0)\n"
                "    print('ready', flush=True)\n"
                "    while not stop.is_set():\n"
                "        sum(range(1000))\n"
                "t = threading.Thread(target=spin)\n"
                "t.start()\n"
                "sys.stdin.readline()\n"
                "stop.set()\n"
                "t.join()\n")
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(child.stdout.readline().strip(), "ready")
            start = harness.CpuSample(child.pid)
            self.assertIn("og-spin", start.groups)
            # Until the spinning thread has used 0.3 s of CPU (not a sleep:
            # a condition, with a deadline).
            deadline = time.monotonic() + 30
            while True:
                now = harness.CpuSample(child.pid)
                used = now.since(start)
                if sum(used["og-spin"]) >= 0.3 or time.monotonic() > deadline:
                    break
            self.assertGreaterEqual(sum(used["og-spin"]), 0.3)
            self.assertLess(sum(used.get("python", [0.0, 0.0])), sum(used["og-spin"]))
            total = sum(u + s for u, s in used.values())
            self.assertAlmostEqual(total, now.total - start.total, delta=2.5 / harness.TICKS)
        finally:
            child.communicate("\n", timeout=30)


class PlanTest(Tmp):
    def plan(self, *args, expect=0):
        r = run(os.path.join(BENCH, "plan.py"), *args)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def plan_json(self, *args):
        return json.loads(self.plan("--json", *args).stdout)

    def measured(self):
        results = copy.deepcopy(FULL)
        # 60,000/s on 2 cores, but 40 µs CPU per send: the CPU figure (25,000/s/core) is lower.
        results["scenarios"].append(scenario("max-email", 60000.0, cpu_us=40.0))
        return self.write_results(results, "measured.json")

    def test_defaults_without_results(self):
        args = ("--per-day", "50M", "--peak-factor", "5", "--provider-latency", "150ms",
                "--no-results")
        p = self.plan_json(*args)
        self.assertFalse(p["measured"])
        self.assertAlmostEqual(p["average_per_s"], 578.7037, places=3)
        self.assertEqual(round(p["peak_per_s"], 1), 2893.5)
        self.assertEqual(round(p["provider_concurrency"]), 434)
        self.assertEqual(p["capacity_per_core"], 25000.0)  # DESIGN.md §11: 50,000/s on 2 cores
        self.assertEqual((p["instances_by_cpu"], p["instances_by_memory"], p["instances"]), (1, 1, 1))
        self.assertEqual(p["max_in_flight_per_instance"], 700)  # 434 ÷ 0.7 → 620 → 700
        self.assertEqual(p["kafka_partitions"], 16)
        self.assertEqual(p["binding"], "cpu")
        text = self.plan(*args).stdout
        self.assertIn("2,893.5/s", text)
        self.assertIn("434", text)
        self.assertIn("DESIGN.md §11 targets", text)
        self.assertIn("binds first", text)

    def test_measured_cpu_bound(self):
        p = self.plan_json("--per-day", "5B", "--results", self.measured())
        self.assertTrue(p["measured"])
        self.assertEqual(p["channels"]["all"]["capacity_source"], "max-email")
        self.assertEqual(p["capacity_per_core"], 25000.0)  # min(60,000 ÷ 2, 1e6 ÷ 40)
        self.assertAlmostEqual(p["rss_per_in_flight_mib"], 0.002)  # 200 MiB ÷ 100,000
        # 289,351.9/s ÷ (25,000 × 2 × 0.7) = 8.27 → 9
        self.assertEqual(p["instances_by_cpu"], 9)
        self.assertEqual(p["instances_by_memory"], 1)
        self.assertEqual(p["instances"], 9)
        self.assertEqual(p["kafka_partitions"], 18)  # max(16, 9 × 2) → multiple of 9
        self.assertEqual(p["binding"], "cpu")

    def test_channel_mix(self):
        p = self.plan_json("--per-day", "5B", "--results", self.measured(),
                           "--channel-mix", "sms=0.5,email=0.5",
                           "--provider-latency", "sms=100ms,email=1s")
        # sms: min(39,000 ÷ 2, 1e6 ÷ 21.5) = 19,500; email: 25,000; harmonic mean by share.
        self.assertAlmostEqual(p["capacity_per_core"], 1 / (0.5 / 19500 + 0.5 / 25000), places=3)
        self.assertEqual(p["instances"], 10)  # 289,351.9 ÷ (21,910.1 × 2 × 0.7) = 9.43
        self.assertAlmostEqual(p["provider_concurrency"], 289351.85 * (0.5 * 0.1 + 0.5 * 1.0), places=0)

    def test_memory_binds(self):
        p = self.plan_json("--per-day", "50M", "--provider-latency", "60s", "--results",
                           self.measured(), "--mem-per-instance-gib", "0.25")
        # 173,611 in flight × 0.002 MiB = 347 MiB over 256 MiB × 0.7 → 2 instances
        self.assertEqual(p["instances_by_cpu"], 1)
        self.assertEqual(p["instances_by_memory"], 2)
        self.assertEqual(p["instances"], 2)
        self.assertEqual(p["binding"], "memory")

    def test_provider_limit_binds(self):
        p = self.plan_json("--per-day", "50M", "--provider-latency", "150ms", "--no-results",
                           "--provider-max-concurrency", "300")
        self.assertEqual(p["binding"], "provider")
        self.assertFalse(p["feasible"])
        self.assertAlmostEqual(p["sustainable_peak_per_s"], 2000.0)  # 300 ÷ 0.15 s
        text = self.plan("--per-day", "50M", "--no-results", "--provider-max-concurrency", "300").stdout
        self.assertIn("provider concurrency limits", text)
        self.assertIn("NOT FEASIBLE", text)

    def test_bad_input(self):
        for args, message in (
                (("--per-day", "5X"), "argument --per-day: invalid count '5X'"),
                (("--per-day", "50M", "--provider-latency", "150us"), "invalid duration '150us'"),
                (("--per-day", "50M", "--headroom", "1.5"), "must be in (0, 1]"),
                (("--per-day", "50M", "--channel-mix", "sms=0.5"), "must add up to 1"),
                (("--per-day", "50M", "--channel-mix", "fax=1"), "channels among"),
                (("--per-day", "50M", "--results", os.path.join(self.dir, "nope.json")),
                 "cannot read results")):
            r = self.plan(*args, expect=2)
            self.assertIn(message, r.stderr, args)
            self.assertEqual(r.stdout, "")

    def test_entry_point(self):
        tool = os.path.join(BENCH, "omnigate-bench")
        r = run(tool, "plan", "--per-day", "1.5K", "--no-results", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertAlmostEqual(json.loads(r.stdout)["average_per_s"], 1500 / 86400)
        out = os.path.join(self.dir, "via-tool")
        r = run(tool, "report", self.write_results(FULL), out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "REPORT.md")))
        self.assertEqual(run(tool, "frobnicate").returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
