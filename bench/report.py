#!/usr/bin/python3
"""Turns bench/results/results.json into REPORT.md and PNG plots.

usage: report.py results.json OUTDIR

Writes OUTDIR/REPORT.md, OUTDIR/throughput_over_time.png, OUTDIR/latency_cdf.png
and OUTDIR/throughput_vs_concurrency.png. Parts of the results that are missing
or null are reported as "not measured in this run".
"""
import json
import math
import os
import sys

DEBIAN_PYTHON = "/usr/bin/python3"


def _import_pyplot():
    """matplotlib comes from Debian's python3-matplotlib. When another python3
    (pyenv, a venv) comes first on PATH, run again under Debian's."""
    try:
        import matplotlib
    except ImportError:
        if (os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)
                and os.access(DEBIAN_PYTHON, os.X_OK)
                and not os.environ.get("OMNIGATE_BENCH_REEXEC")):
            os.environ["OMNIGATE_BENCH_REEXEC"] = "1"
            os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)
        sys.exit("report.py: matplotlib is missing; install python3-matplotlib "
                 "(deploy/setup-deps.sh does)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


PLOT_TIMELINE = "throughput_over_time.png"
PLOT_CDF = "latency_cdf.png"
PLOT_SWEEP = "throughput_vs_concurrency.png"

NOT_MEASURED = "not measured in this run"


# ---- formatting -------------------------------------------------------------

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_int(v):
    return "{:,.0f}".format(v) if is_num(v) else "–"


def fmt_1(v):
    return "{:,.1f}".format(v) if is_num(v) else "–"


def fmt_ms(v):
    return fmt_1(v) + " ms" if is_num(v) else "–"


def md_cell(v):
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ---- picking figures out of the results --------------------------------------

def scenarios(results):
    return [s for s in (results.get("scenarios") or []) if isinstance(s, dict)]


def scenario(results, name):
    return next((s for s in scenarios(results) if s.get("name") == name), None)


def is_tls(s):
    return bool(s.get("tls")) or "-tls" in str(s.get("name", ""))


def best_scenario(results, prefix):
    """The scenario with the highest sends/s among those whose name starts with prefix.
    The HTTPS scenarios (max-sms-tls-*) are left out: §11 measures them as a
    ratio to the plain-HTTP figure, not as the max send rate."""
    cands = [s for s in scenarios(results)
             if str(s.get("name", "")).startswith(prefix) and is_num(s.get("sends_per_s"))
             and not is_tls(s)]
    return max(cands, key=lambda s: s["sends_per_s"]) if cands else None


def tls_scenarios(results):
    return [s for s in scenarios(results) if is_tls(s)]


def nginx_ceiling(results):
    """wrk → nginx, the reference DESIGN.md §11's ratios are taken against."""
    ceiling = results.get("ceiling")
    n = ceiling.get("nginx") if isinstance(ceiling, dict) else None
    return n if isinstance(n, dict) else None


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d if is_num(d) else None


def targets(results):
    """The DESIGN.md §11 rows: (figure, target text, measured text, PASS/MISS/–)."""
    best = best_scenario(results, "max-")
    half = scenario(results, "half-rate")
    lanes = scenario(results, "lanes")
    inflight = scenario(results, "inflight-100k")

    def row(figure, target_text, value, limit, higher_is_better, fmt, source):
        if value is None:
            return (figure, target_text, NOT_MEASURED, "–")
        ok = value >= limit if higher_is_better else value <= limit
        return (figure, target_text, "%s (%s)" % (fmt(value), source), "PASS" if ok else "MISS")

    best_name = best["name"] if best else ""
    nginx = nginx_ceiling(results)
    n_rate = get(nginx, "requests_per_s")
    n_cpu = get(nginx, "wrk_cpu_us_per_request")
    g_rate = get(best, "sends_per_s")
    g_cpu = get(best, "cpu_us_per_send")
    sms = scenario(results, "max-sms")
    plain_cpu = get(sms, "cpu_us_per_send")

    def ratio_row(figure, target_text, num, den, limit, higher_is_better, source):
        if num is None or den is None or den <= 0:
            return (figure, target_text, NOT_MEASURED, "–")
        return row(figure, target_text, num / den, limit, higher_is_better,
                   lambda v: "%.2f×" % v, source)

    rows = [
        row("end-to-end sends/s", "≥ 50,000/s", g_rate, 50000, True,
            lambda v: fmt_int(v) + "/s", best_name),
        ratio_row("end-to-end sends/s ÷ HTTP ceiling (wrk → nginx)", "≥ 0.6×", g_rate, n_rate,
                  0.6, True, "%s %s/s ÷ nginx %s/s" % (best_name, fmt_int(g_rate),
                                                        fmt_int(n_rate))),
        row("gateway CPU per send", "≤ 20 µs", g_cpu, 20, False,
            lambda v: fmt_1(v) + " µs", best_name),
        ratio_row("gateway CPU per send ÷ wrk's CPU per request (wrk → nginx)", "≤ 2×", g_cpu,
                  n_cpu, 2.0, False, "%s %s µs ÷ wrk %s µs" % (best_name, fmt_1(g_cpu),
                                                               fmt_1(n_cpu))),
    ]
    tls = tls_scenarios(results)
    if not tls:
        rows.append(("gateway CPU per send to an HTTPS provider ÷ plain HTTP", "≤ 1.3×",
                     NOT_MEASURED, "–"))
    for t in tls:
        t_cpu = get(t, "cpu_us_per_send")
        rows.append(ratio_row(
            "gateway CPU per send to an HTTPS provider ÷ plain HTTP (`http_client: %s`)" %
            (t.get("http_client") or "?"), "≤ 1.3×", t_cpu, plain_cpu, 1.3, False,
            "%s %s µs ÷ max-sms %s µs" % (t.get("name", "?"), fmt_1(t_cpu), fmt_1(plain_cpu))))
    for name, limit in (("policy-embedded", 1.3), ("policy-redis", 1.6)):
        pol = scenario(results, name)
        p_cpu = get(pol, "cpu_us_per_send")
        what = "full policy on (%s state)" % name.split("-", 1)[1]
        # Paired runs (harness.py, paired_rounds): the median pair's figures.
        base_cpu = get(pol, "no_policy_cpu_us_per_send") or plain_cpu
        rounds = pol.get("cpu_ratio_rounds") if isinstance(pol, dict) else None
        source = "%s %s µs ÷ max-sms %s µs" % (name, fmt_1(p_cpu), fmt_1(base_cpu))
        if isinstance(rounds, list) and len(rounds) > 1:
            ratios = sorted(r["ratio"] for r in rounds if is_num(r.get("ratio")))
            source = "median of %d paired runs, %.2f–%.2f×; in it %s" % (
                len(ratios), ratios[0], ratios[-1], source)
        if get(pol, "redis_cpu_us_per_send") is not None:
            source += "; redis-server %s µs/send besides" % fmt_1(pol["redis_cpu_us_per_send"])
        rows.append(ratio_row("gateway CPU per send, %s ÷ no policy" % what, "≤ %.1f×" % limit,
                              p_cpu, base_cpu, limit, False, source))
    # The default config adds the status store to the policy; §11 sets no
    # ratio for it, the row shows what it costs.
    status = scenario(results, "status-embedded")
    s_cpu = get(status, "cpu_us_per_send")
    if s_cpu is not None and plain_cpu:
        rows.append(("gateway CPU per send, policy + status store (embedded, the default "
                     "config) ÷ no policy", "no target", "%.2f× (status-embedded %s µs ÷ "
                     "max-sms %s µs)" % (s_cpu / plain_cpu, fmt_1(s_cpu), fmt_1(plain_cpu)),
                     "–"))
    return rows + [
        row("p99 latency at half the max rate", "≤ 20 ms", get(half, "latency_ms", "p99"), 20, False,
            fmt_ms, "half-rate"),
        row("transactional p99 while bulk drains", "≤ 50 ms",
            get(lanes, "transactional_latency_ms", "p99"), 50, False, fmt_ms, "lanes"),
        row("gateway RSS with 100,000 in flight", "≤ 256 MiB", get(inflight, "peak_rss_mib"), 256,
            False, lambda v: fmt_1(v) + " MiB", "inflight-100k"),
    ]


def ceiling_rows(c, label):
    """Rate and CPU per request (wrk, server) of one wrk ceiling."""
    rate = get(c, "requests_per_s")
    if rate is None:
        return [("HTTP ceiling (%s)" % label, "", NOT_MEASURED)]
    rows = [("HTTP ceiling (wrk → %s)" % (c.get("target") or label), "",
             fmt_int(rate) + " requests/s")]
    w, srv = get(c, "wrk_cpu_us_per_request"), get(c, "server_cpu_us_per_request")
    if w is not None:
        rows.append(("CPU per HTTP request against %s: wrk (client side)%s" % (
            label, "" if srv is None else ", server"), "",
            fmt_1(w) + " µs" + ("" if srv is None else ", " + fmt_1(srv) + " µs")))
    return rows


def references(results):
    """Kannel and the wrk ceiling next to the gateway's own figure."""
    best = best_scenario(results, "max-")
    sms = best_scenario(results, "max-sms") or best
    rows = []

    kannel = results.get("kannel") if isinstance(results.get("kannel"), dict) else None
    k_rate = get(kannel, "sends_per_s")
    if k_rate is None:
        rows.append(("Kannel sendsms → HTTP SMSC", "about 2,900/s", NOT_MEASURED))
        rows.append(("omnigate ÷ Kannel", "", NOT_MEASURED))
    else:
        version = kannel.get("version") or "?"
        rows.append(("Kannel %s sendsms → HTTP SMSC" % version, "about 2,900/s",
                     fmt_int(k_rate) + "/s"))
        g = get(sms, "sends_per_s")
        ratio = "%s× (%s)" % (fmt_1(g / k_rate), sms["name"]) if g is not None and k_rate > 0 \
            else NOT_MEASURED
        rows.append(("omnigate ÷ Kannel", "", ratio))

    ceiling = results.get("ceiling") if isinstance(results.get("ceiling"), dict) else None
    # DESIGN.md §11's reference: wrk → nginx, plain and over TLS.
    nginx = nginx_ceiling(results)
    rows += ceiling_rows(nginx, "nginx")
    if nginx is not None:
        n_rate = get(nginx, "requests_per_s")
        g = get(best, "sends_per_s")
        if g is not None and n_rate:
            rows.append(("omnigate ÷ HTTP ceiling (nginx)", "",
                         "%.1f %% (%s)" % (100.0 * g / n_rate, best["name"])))
        nginx_tls = ceiling.get("nginx_tls") if isinstance(ceiling.get("nginx_tls"), dict) \
            else None
        rows += ceiling_rows(nginx_tls, "nginx over TLS")
        p_cpu, t_cpu = get(nginx, "wrk_cpu_us_per_request"), get(nginx_tls,
                                                                 "wrk_cpu_us_per_request")
        if p_cpu and t_cpu is not None:
            rows.append(("wrk's CPU per request over TLS ÷ plain (nginx)", "",
                         "%.2f×" % (t_cpu / p_cpu)))
    c_rate = get(ceiling, "requests_per_s")
    if c_rate is None:
        rows.append(("HTTP ceiling (wrk)", "about 82,000/s", NOT_MEASURED))
        rows.append(("omnigate ÷ HTTP ceiling", "", NOT_MEASURED))
    else:
        what = "%s → %s" % (ceiling.get("tool") or "wrk", ceiling.get("target") or "?")
        rows.append(("HTTP ceiling (%s)" % what, "about 82,000/s", fmt_int(c_rate) + " requests/s"))
        g = get(best, "sends_per_s")
        frac = "%.1f %% (%s)" % (100.0 * g / c_rate, best["name"]) if g is not None and c_rate > 0 \
            else NOT_MEASURED
        rows.append(("omnigate ÷ HTTP ceiling", "", frac))
        # Where the gateway's CPU per send goes: the leanest HTTP/1.1 client
        # on this box (wrk), then the gateway's own client alone.
        w = get(ceiling, "wrk_cpu_us_per_request")
        if w is not None:
            rows.append(("CPU per HTTP request, wrk (client side)", "", fmt_1(w) + " µs"))
        client = ceiling.get("omnigate_http_client")
        c_cpu = get(client, "cpu_us_per_request") if isinstance(client, dict) else None
        if c_cpu is not None:
            rows.append(("CPU per HTTP request, omnigate's HTTP/1.1 client alone (%s "
                         "outstanding)" % client.get("concurrency", "?"), "",
                         fmt_1(c_cpu) + " µs"))
        curl = ceiling.get("omnigate_http_client_curl")
        k_cpu = get(curl, "cpu_us_per_request") if isinstance(curl, dict) else None
        if k_cpu is not None:
            rows.append(("CPU per HTTP request, the same through libcurl multi_socket "
                         "(`http_client: curl`)", "", fmt_1(k_cpu) + " µs"))
        for key, what in (("omnigate_http_client_tls",
                           "omnigate's HTTP/1.1 client alone over TLS (`http_client: native`)"),
                          ("omnigate_http_client_curl_tls",
                           "libcurl alone over TLS, h2 by ALPN (`http_client: auto`)")):
            t_cpu = get(ceiling.get(key), "cpu_us_per_request")
            if t_cpu is not None:
                rows.append(("CPU per HTTP request, %s" % what, "", fmt_1(t_cpu) + " µs"))
        if c_cpu is not None:
            g_cpu = get(sms, "cpu_us_per_send")
            if g_cpu is not None and g_cpu > 0:
                rows.append(("HTTP client's share of gateway CPU per send", "",
                             "%.0f %% (%s)" % (100.0 * c_cpu / g_cpu, sms["name"])))
    # Where the half-rate latency goes, split at the `accepted` event.
    half = scenario(results, "half-rate")
    kafka_p99 = get(half, "latency_split_ms", "publish_to_accepted", "p99")
    gateway_p99 = get(half, "latency_split_ms", "accepted_to_final", "p99")
    if kafka_p99 is not None and gateway_p99 is not None:
        rows.append(("half-rate p99, publish → accepted (load generator's producer, embedded "
                     "broker, consumer fetch)", "", fmt_ms(kafka_p99)))
        rows.append(("half-rate p99, accepted → final event (the gateway's pipeline and the "
                     "provider call)", "", fmt_ms(gateway_p99)))
    drift = half.get("latency_p99_by_second") if isinstance(half, dict) else None
    if isinstance(drift, list) and drift:
        cells = ["%ss: %s" % (int(p[0]) + 1, fmt_ms(p[1])) for p in drift
                 if isinstance(p, (list, tuple)) and len(p) == 2 and is_num(p[0]) and is_num(p[1])]
        if cells:
            rows.append(("half-rate p99 by second of publishing (the embedded broker's cost per "
                         "fetch grows with its log, bench/README.md)", "", ", ".join(cells)))
    for t in tls_scenarios(results):
        rows.append(("%s: sends/s, CPU per send" % t.get("name", "?"), "",
                     "%s/s, %s µs" % (fmt_int(get(t, "sends_per_s")),
                                      fmt_1(get(t, "cpu_us_per_send")))))
    p_cpu = get(scenario(results, "pipeline-only"), "cpu_us_per_send")
    if p_cpu is not None:
        rows.append(("CPU per request without provider calls (pipeline-only: consume, decode, "
                     "DLQ record + final event)", "", fmt_1(p_cpu) + " µs"))
    return rows


# ---- plots --------------------------------------------------------------------

def points(series, positive_x=False):
    """[[x, y], ...] → (xs, ys), dropping malformed pairs."""
    xs, ys = [], []
    for p in series or []:
        if isinstance(p, (list, tuple)) and len(p) >= 2 and is_num(p[0]) and is_num(p[1]):
            if positive_x and p[0] <= 0:
                continue
            xs.append(p[0])
            ys.append(p[1])
    return xs, ys


def plot_lines(plt, path, lines, title, xlabel, ylabel, logx=False, legend_title=None):
    """lines: [(label, xs, ys)]. Returns False (and writes nothing) without data."""
    lines = [l for l in lines if l[1]]
    if not lines:
        if os.path.exists(path):
            os.remove(path)  # a stale plot from an earlier run would mislead
        return False
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    for label, xs, ys in lines:
        ax.plot(xs, ys, label=label, linewidth=1.6, marker="o" if len(xs) <= 12 else None,
                markersize=4)
    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: "{:,g}".format(v)))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: "{:,.0f}".format(v)
                                                   if abs(v) >= 10 else "{:g}".format(v)))
    ax.legend(title=legend_title, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return True


def make_plots(plt, results, outdir):
    """Returns {file name: True if written}."""
    sc = scenarios(results)
    done = {}
    done[PLOT_TIMELINE] = plot_lines(
        plt, os.path.join(outdir, PLOT_TIMELINE),
        [(s.get("name", "?"),) + points(s.get("timeline")) for s in sc],
        "Final events per second", "seconds since start", "final events/s")
    done[PLOT_CDF] = plot_lines(
        plt, os.path.join(outdir, PLOT_CDF),
        [(s.get("name", "?"),) + points(s.get("latency_cdf"), positive_x=True) for s in sc],
        "Request-to-final-event latency (CDF)", "latency (ms, log scale)", "fraction of requests",
        logx=True)

    by_latency = {}
    for p in results.get("concurrency_sweep") or []:
        if isinstance(p, dict) and is_num(p.get("max_in_flight")) and is_num(p.get("sends_per_s")):
            lat = p.get("provider_latency_ms")
            by_latency.setdefault(lat if is_num(lat) else None, []).append(
                (p["max_in_flight"], p["sends_per_s"]))
    lines = []
    for lat in sorted(by_latency, key=lambda v: (v is None, v or 0)):
        pts = sorted(by_latency[lat])
        label = "%s ms" % fmt_int(lat) if lat is not None else "?"
        lines.append((label, [x for x, _ in pts], [y for _, y in pts]))
    xs_all = [x for _, xs, _ in lines for x in xs]
    wide = bool(xs_all) and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20
    done[PLOT_SWEEP] = plot_lines(
        plt, os.path.join(outdir, PLOT_SWEEP), lines,
        "Throughput vs pipeline.max_in_flight", "max_in_flight" + (" (log scale)" if wide else ""),
        "sends/s", logx=wide, legend_title="provider latency")
    return done


# ---- the report ---------------------------------------------------------------

def statuses_text(s):
    st = s.get("statuses")
    if not isinstance(st, dict) or not st:
        return None
    ordered = sorted(st.items(), key=lambda kv: -kv[1] if is_num(kv[1]) else 0)
    return ", ".join("%s %s" % (k, fmt_int(v)) for k, v in ordered)


def render(results, plots):
    out = []
    add = out.append
    add("# Omnigate benchmark report")
    add("")
    short = " (short run: figures are indicative only)" if results.get("short") else ""
    add("`%s` started %s, git `%s`%s." % (results.get("command") or "?",
                                           results.get("started") or "?",
                                           results.get("git") or "?", short))
    add("")

    add("## Machine")
    add("")
    m = results.get("machine") if isinstance(results.get("machine"), dict) else {}
    mem = m.get("mem_gib")
    add(md_table(["", ""], [
        ("CPU", m.get("cpu") or "–"),
        ("cores", m.get("cores") if m.get("cores") is not None else "–"),
        ("memory", fmt_1(mem) + " GiB" if is_num(mem) else "–"),
        ("kernel", m.get("kernel") or "–"),
        ("OS", m.get("os") or "–"),
    ]))
    add("")
    add("Everything (Kafka, gateway, mock providers, load generator) runs on this one box.")
    add("")

    add("## Targets (DESIGN.md §11)")
    add("")
    add(md_table(["figure", "target", "measured", "result"], targets(results)))
    add("")
    add("### References")
    add("")
    add(md_table(["figure", "DESIGN.md reference", "measured"], references(results)))
    add("")

    add("## Scenarios")
    add("")
    rows = []
    for s in scenarios(results):
        lat = s.get("latency_ms") if isinstance(s.get("latency_ms"), dict) else {}
        rss = s.get("peak_rss_mib")
        rate = fmt_int(s.get("sends_per_s"))
        if s.get("sends_per_s") == 0 and is_num(s.get("finals_per_s")):
            rate += " (%s finals/s)" % fmt_int(s.get("finals_per_s"))
        rows.append((s.get("name", "?"), s.get("title") or "", fmt_int(s.get("requests")),
                     rate,
                     fmt_1(lat.get("p50")), fmt_1(lat.get("p90")), fmt_1(lat.get("p99")),
                     fmt_1(lat.get("p999")), fmt_1(s.get("cpu_us_per_send")),
                     fmt_1(rss) + " MiB" if is_num(rss) else "–"))
    if rows:
        add(md_table(["name", "title", "requests", "sends/s", "p50 ms", "p90 ms", "p99 ms",
                      "p99.9 ms", "CPU µs/send", "peak RSS"], rows))
    else:
        add("No scenarios: " + NOT_MEASURED + ".")
    add("")

    micro = [m for m in results.get("micro") or []
             if isinstance(m, dict) and is_num(m.get("cpu_us"))]
    if micro:
        add("## Micro-benchmarks")
        add("")
        add("`omnigate-micro-bench` (Google Benchmark), median CPU time of 3 repetitions.")
        add("")
        add(md_table(["benchmark", "CPU µs"],
                     [(str(m.get("name", "?")), "%.3f" % m["cpu_us"]) for m in micro]))
        add("")

    add("## Plots")
    add("")
    for name, title in ((PLOT_TIMELINE, "Throughput over time"), (PLOT_CDF, "Latency CDF")):
        add("### " + title)
        add("")
        add("![%s](%s)" % (title, name) if plots.get(name) else "No data: " + NOT_MEASURED + ".")
        add("")
    add("### Throughput vs concurrency")
    add("")
    if plots.get(PLOT_SWEEP):
        add("![Throughput vs concurrency](%s)" % PLOT_SWEEP)
        add("")
        add("Little's law bounds each line: sends/s ≤ max_in_flight ÷ provider latency.")
    else:
        add("Concurrency sweep " + NOT_MEASURED + "; plot skipped.")
    add("")

    add("## Scenario notes")
    add("")
    for s in scenarios(results):
        add("### %s%s" % (s.get("name", "?"), " — " + s["title"] if s.get("title") else ""))
        add("")
        setup = []
        if is_num(s.get("provider_latency_ms")):
            setup.append("provider latency %s ms" % fmt_int(s["provider_latency_ms"]))
        if is_num(s.get("max_in_flight")):
            setup.append("max_in_flight %s" % fmt_int(s["max_in_flight"]))
        setup.append("offered rate %s/s" % fmt_int(s["rate"]) if is_num(s.get("rate"))
                     else "offered rate: as fast as possible")
        if is_num(s.get("duration_s")):
            setup.append("%s s" % fmt_1(s["duration_s"]))
        if is_num(s.get("finals_per_s")):
            setup.append("final events %s/s" % fmt_int(s["finals_per_s"]))
        if is_num(s.get("gateway_cpu_s")):
            setup.append("gateway CPU %s s" % fmt_1(s["gateway_cpu_s"]))
        add("- " + "; ".join(setup) + ".")
        st = statuses_text(s)
        if st:
            add("- Statuses: %s." % st)
        tl = s.get("transactional_latency_ms")
        if isinstance(tl, dict) and tl:
            add("- Transactional lane latency: " + ", ".join(
                "%s %s" % (k, fmt_ms(v)) for k, v in tl.items()) + ".")
        if s.get("notes"):
            add("- " + str(s["notes"]).strip())
        add("")

    ceiling = results.get("ceiling") if isinstance(results.get("ceiling"), dict) else {}
    for label, ref in (("Kannel", results.get("kannel")), ("HTTP ceiling (mock)", ceiling),
                       ("HTTP ceiling (nginx)", ceiling.get("nginx")),
                       ("HTTP ceiling (nginx over TLS)", ceiling.get("nginx_tls"))):
        if isinstance(ref, dict) and ref.get("notes"):
            add("### %s" % label)
            add("")
            add(str(ref["notes"]).strip())
            add("")
    return "\n".join(out).rstrip() + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print("usage: report.py results.json OUTDIR", file=sys.stderr)
        return 2
    src, outdir = argv
    try:
        with open(src, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        print("report.py: cannot read %s: %s" % (src, e), file=sys.stderr)
        return 2
    if not isinstance(results, dict):
        print("report.py: %s: expected a JSON object" % src, file=sys.stderr)
        return 2
    plt = _import_pyplot()
    os.makedirs(outdir, exist_ok=True)
    plots = make_plots(plt, results, outdir)
    path = os.path.join(outdir, "REPORT.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(results, plots))
    print("report: wrote %s (%d plots)" % (path, sum(plots.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
