#!/usr/bin/python3
"""Capacity planner: how many gateway instances, in-flight slots and Kafka
partitions a daily volume needs, from the figures `make bench` measured.

  plan.py --per-day 50M --peak-factor 5 --provider-latency 150ms
          [--results bench/results/results.json | --no-results]
          [--cores-per-instance 2] [--headroom 0.7] [--mem-per-instance-gib 2]
          [--channel-mix sms=0.6,email=0.3,viber=0.05,push=0.05]
          [--provider-max-concurrency 2000 | sms=2000,email=500] [--json]

--provider-latency also takes per-channel values (sms=150ms,email=400ms) with
--channel-mix. A bare latency number is milliseconds.

Without a results file the planner uses the DESIGN.md §11 targets as its
per-instance figures (DEFAULTS below) and says so.
"""
import argparse
import json
import math
import os
import re
import sys

CHANNELS = ("sms", "email", "viber", "push")
DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "results.json")

# Used when no measurement is available: the DESIGN.md §11 targets.
# 50,000 sends/s on a 2-core box is 25,000/s per core; 20 µs CPU per send would
# allow 50,000/s per core, so the throughput figure is the conservative one.
# 256 MiB for 100,000 in flight bounds the memory per in-flight request.
DEFAULTS = {
    "sends_per_s": 50000.0,
    "cores": 2,
    "cpu_us_per_send": 20.0,
    "rss_mib": 256.0,
    "rss_in_flight": 100000,
}
PROVIDER_MAX_IN_FLIGHT_DEFAULT = 512  # providers[].max_in_flight, docs/configuration.md
MIN_PARTITIONS = 16                   # DESIGN.md §9


# ---- argument parsing -----------------------------------------------------------

def parse_count(text):
    """'50M' → 50e6. Suffixes K, M, B (thousand, million, billion)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMbB]?)\s*", text.replace("_", "").replace(",", ""))
    if not m:
        raise argparse.ArgumentTypeError(
            "invalid count %r: use a number with an optional K, M or B suffix, e.g. 50M" % text)
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()]
    if value <= 0:
        raise argparse.ArgumentTypeError("invalid count %r: must be above zero" % text)
    return value


def parse_seconds(text):
    """'150ms' → 0.15, '2s' → 2.0, '150' → 0.15 (a bare number is milliseconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(
            "invalid duration %r: use a number with ms or s, e.g. 150ms or 0.2s" % text)
    value = float(m.group(1)) * (1.0 if m.group(2) == "s" else 1e-3)
    if value <= 0:
        raise argparse.ArgumentTypeError("invalid duration %r: must be above zero" % text)
    return value


def parse_positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("invalid number %r" % text) from None
        if not value > 0 or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError("invalid number %r: must be above zero" % text)
        return value
    return parse


def parse_fraction(text):
    value = parse_positive(float)(text)
    if value > 1:
        raise argparse.ArgumentTypeError("invalid fraction %r: must be in (0, 1]" % text)
    return value


def per_channel(parse_value, what):
    """'x' → {None: x}; 'sms=x,email=y' → {'sms': x, 'email': y}."""
    def parse(text):
        if "=" not in text:
            return {None: parse_value(text)}
        out = {}
        for item in text.split(","):
            name, sep, value = item.strip().partition("=")
            name = name.strip().lower()
            if not sep or name not in CHANNELS:
                raise argparse.ArgumentTypeError(
                    "invalid %s %r: expected channel=value pairs with channels among %s"
                    % (what, item.strip(), ", ".join(CHANNELS)))
            if name in out:
                raise argparse.ArgumentTypeError("%s: channel %s given twice" % (what, name))
            out[name] = parse_value(value)
        return out
    return parse


def build_parser(prog=None):
    p = argparse.ArgumentParser(
        prog=prog, description="Omnigate capacity planner (figures from `make bench`).",
        epilog="Counts take K/M/B suffixes; durations take ms or s (a bare number is ms).")
    p.add_argument("--per-day", type=parse_count, required=True, metavar="N",
                   help="requests per day, e.g. 50M")
    p.add_argument("--peak-factor", type=parse_positive(float), default=5.0, metavar="F",
                   help="peak rate ÷ average rate (default 5)")
    p.add_argument("--provider-latency", type=per_channel(parse_seconds, "latency"),
                   default={None: 0.15}, metavar="D",
                   help="provider answer time, e.g. 150ms, or per channel sms=150ms,email=400ms "
                        "(default 150ms)")
    p.add_argument("--results", metavar="FILE",
                   help="results.json from make bench (default bench/results/results.json if present)")
    p.add_argument("--no-results", action="store_true",
                   help="ignore any results file and plan from the DESIGN.md §11 targets")
    p.add_argument("--cores-per-instance", type=parse_positive(int), default=2, metavar="N",
                   help="cores per gateway instance = pipeline.workers (default 2)")
    p.add_argument("--headroom", type=parse_fraction, default=0.7, metavar="F",
                   help="plan to use this fraction of CPU and memory at peak (default 0.7)")
    p.add_argument("--mem-per-instance-gib", type=parse_positive(float), default=2.0, metavar="G",
                   help="memory per instance (default 2)")
    p.add_argument("--channel-mix", type=per_channel(parse_fraction, "channel mix"), metavar="MIX",
                   help="traffic shares, e.g. sms=0.6,email=0.3,viber=0.05,push=0.05")
    p.add_argument("--provider-max-concurrency", type=per_channel(parse_positive(int), "limit"),
                   metavar="N", help="concurrent requests the provider accounts allow, all instances "
                                     "together: one total or per channel sms=2000,email=500")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    return p


# ---- measured figures --------------------------------------------------------------

def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _best(results, prefix):
    # The HTTPS scenarios (max-sms-tls-*) are §11's TLS ratio, not a channel's
    # max rate; left out as report.py leaves them out.
    cands = [s for s in results.get("scenarios") or []
             if isinstance(s, dict) and str(s.get("name", "")).startswith(prefix)
             and not s.get("tls") and "-tls" not in str(s.get("name", ""))
             and _num(s.get("sends_per_s"))]
    return max(cands, key=lambda s: s["sends_per_s"]) if cands else None


def capacity_per_core(results, prefix, notes):
    """Conservative sends/s per core: the lower of throughput ÷ cores and 1e6 ÷ CPU µs per send.
    Returns (value, formula, source)."""
    s = _best(results, prefix) if results else None
    if s is None and results and prefix != "max-":
        s = _best(results, "max-")
        if s is not None:
            notes.append("no %s* scenario in the results; %s used for that channel"
                         % (prefix, s["name"]))
    if s is None:
        if results:
            notes.append("no max-* scenario in the results; the DESIGN.md §11 target is used")
        src, cores, rate, cpu_us = "DESIGN.md §11 target", DEFAULTS["cores"], \
            DEFAULTS["sends_per_s"], DEFAULTS["cpu_us_per_send"]
    else:
        src = s["name"]
        cores = (results.get("machine") or {}).get("cores")
        rate = s["sends_per_s"]
        cpu_us = s.get("cpu_us_per_send")
    cands = []
    if _num(cores):
        cands.append((rate / cores, "%s/s ÷ %d cores" % (fmt_rate(rate), cores)))
    if _num(cpu_us):
        cands.append((1e6 / cpu_us, "1e6 ÷ %.1f µs/send" % cpu_us))
    if not cands:  # a scenario without cores or CPU time: count the whole rate against one core
        cands.append((rate, "%s/s on an unknown core count" % fmt_rate(rate)))
    value = min(v for v, _ in cands)
    formula = cands[0][1] if len(cands) == 1 else "min(%s)" % ", ".join(f for _, f in cands)
    return value, formula + " [%s]" % src, src


def rss_per_in_flight(results, notes):
    """MiB per in-flight request, base RSS included (so it errs high). Returns (value, formula)."""
    s = None
    if results:
        s = next((x for x in results.get("scenarios") or []
                  if isinstance(x, dict) and x.get("name") == "inflight-100k"
                  and _num(x.get("peak_rss_mib"))), None)
        if s is None:
            notes.append("no inflight-100k scenario in the results; memory uses the DESIGN.md §11 "
                         "bound of 256 MiB per 100,000 in flight")
    if s is None:
        rss, n, src = DEFAULTS["rss_mib"], DEFAULTS["rss_in_flight"], "DESIGN.md §11 target"
    else:
        rss, src = s["peak_rss_mib"], "inflight-100k"
        n = s.get("max_in_flight") if _num(s.get("max_in_flight")) else 100000
    return rss / n, "%s MiB ÷ %s in flight [%s]" % (fmt_1(rss), fmt_int(n), src)


def load_results(args, parser):
    """(results dict or None, description of the source)."""
    if args.no_results:
        return None, "none (--no-results)"
    path = args.results or DEFAULT_RESULTS
    if not args.results and not os.path.exists(path):
        return None, "none (no %s; run make bench)" % os.path.relpath(path)
    try:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        parser.error("cannot read results %s: %s" % (path, e))
    if not isinstance(results, dict):
        parser.error("results %s: expected a JSON object" % path)
    return results, path


# ---- formatting ----------------------------------------------------------------------

def fmt_int(v):
    return "{:,.0f}".format(v)


def fmt_1(v):
    return "{:,.1f}".format(v)


def fmt_rate(v):
    return fmt_1(v) if v < 10000 else fmt_int(v)


def fmt_pct(v):
    return "{:,.1f} %".format(100.0 * v)


def fmt_mem(mib):
    return "%s KiB" % fmt_1(mib * 1024) if mib < 1 else "%s MiB" % fmt_1(mib)


def instances_text(n):
    return "%d instance%s" % (n, "" if n == 1 else "s")


def round_up(v, step):
    return int(math.ceil(v / step) * step)


# ---- the plan --------------------------------------------------------------------------

def make_plan(args, results, source):
    notes = []
    mix = args.channel_mix
    latency = args.provider_latency
    limits = args.provider_max_concurrency

    if mix is None:
        shares = {None: 1.0}
    else:
        shares = dict(mix)
        total = sum(shares.values())
        if abs(total - 1.0) > 0.01:
            raise ValueError("--channel-mix shares add up to %g; they must add up to 1" % total)
        shares = {c: w / total for c, w in shares.items()}
    if None not in latency:
        missing = [c for c in shares if c not in latency]
        if mix is None or missing:
            raise ValueError("--provider-latency per channel needs --channel-mix and a latency for "
                             "every channel in it" + (" (missing: %s)" % ", ".join(missing)
                                                       if mix is not None else ""))
    if limits is not None and None not in limits and mix is None:
        raise ValueError("--provider-max-concurrency per channel needs --channel-mix")

    avg = args.per_day / 86400.0
    peak = avg * args.peak_factor

    channels = {}
    for c, w in shares.items():
        lat = latency.get(c, latency.get(None))
        cap, cap_formula, cap_src = capacity_per_core(results, "max-" + c if c else "max-", notes)
        channels[c] = {"share": w, "peak_per_s": peak * w, "latency_s": lat,
                       "concurrency": peak * w * lat, "capacity_per_core": cap,
                       "capacity_formula": cap_formula, "capacity_source": cap_src}

    concurrency = sum(ch["concurrency"] for ch in channels.values())
    # CPU time per send adds up across channels, so capacities combine harmonically.
    if mix is None:
        per_core = channels[None]["capacity_per_core"]
        per_core_formula = channels[None]["capacity_formula"]
    else:
        per_core = 1.0 / sum(ch["share"] / ch["capacity_per_core"] for ch in channels.values())
        per_core_formula = "1 ÷ Σ(share ÷ channel capacity per core)"
    per_instance = per_core * args.cores_per_instance
    planned = per_instance * args.headroom
    rss_per, rss_formula = rss_per_in_flight(results, notes)
    mem_mib = args.mem_per_instance_gib * 1024.0

    by_cpu = max(1, math.ceil(peak / planned))
    by_mem = max(1, math.ceil(concurrency * rss_per / (mem_mib * args.headroom)))
    instances = max(by_cpu, by_mem)

    in_flight = concurrency / instances
    # Slots for the average share plus headroom for bursts, but never more than memory holds.
    mem_cap = int(mem_mib / rss_per + 1e-6)
    max_in_flight = min(max(100, round_up(in_flight / args.headroom, 100)), mem_cap)
    partitions = round_up(max(MIN_PARTITIONS, instances * args.cores_per_instance), instances)
    # Room for one partition carrying twice its fair share of the instance's in-flight work.
    per_partition = min(max_in_flight, round_up(2 * max_in_flight * instances / partitions, 100))

    util = {"cpu": peak / (instances * per_instance),
            "memory": in_flight * rss_per / mem_mib}
    provider_rows = []
    if limits is not None:
        if None in limits:
            provider_rows.append((None, concurrency, limits[None]))
        else:
            for c, lim in limits.items():
                if c in channels:
                    provider_rows.append((c, channels[c]["concurrency"], lim))
                else:
                    notes.append("--provider-max-concurrency %s ignored: not in --channel-mix" % c)
        if provider_rows:
            util["provider"] = max(need / lim for _, need, lim in provider_rows)

    binding = max(util, key=util.get)
    feasible = util.get("provider", 0) <= 1.0
    sustainable = None
    if not feasible:
        # Concurrency grows in proportion to the rate, so the tightest limit scales the peak down.
        sustainable = peak * min(lim / need for _, need, lim in provider_rows)
        notes.append("provider concurrency limits cap the peak at %s/s whatever the instance count: "
                     "raise the limits, add provider accounts or lower the latency"
                     % fmt_rate(sustainable))

    for c, ch in channels.items():
        ch["provider_max_in_flight"] = max(1, math.ceil(ch["concurrency"] / instances / args.headroom))
        if provider_rows:
            lim = next((l for cc, _, l in provider_rows if cc == c), None)
            if lim is not None and lim // instances < ch["provider_max_in_flight"]:
                ch["provider_max_in_flight"] = max(1, lim // instances)
                ch["capped_by_provider_limit"] = True
        if ch["provider_max_in_flight"] > PROVIDER_MAX_IN_FLIGHT_DEFAULT:
            notes.append("providers[].max_in_flight%s must be raised from its default %d to %s"
                         % (" for " + c if c else "", PROVIDER_MAX_IN_FLIGHT_DEFAULT,
                            fmt_int(ch["provider_max_in_flight"])))
    if mix is not None and None in (limits or {}):
        notes.append("one total provider limit given; it is checked against the total concurrency")

    return {
        "source": source,
        "measured": results is not None,
        "inputs": {"per_day": args.per_day, "peak_factor": args.peak_factor,
                   "cores_per_instance": args.cores_per_instance, "headroom": args.headroom,
                   "mem_per_instance_gib": args.mem_per_instance_gib,
                   "channel_mix": mix, "provider_latency_s": {str(k) if k else "all": v
                                                              for k, v in latency.items()},
                   "provider_max_concurrency": None if limits is None else
                   {str(k) if k else "all": v for k, v in limits.items()}},
        "average_per_s": avg,
        "peak_per_s": peak,
        "provider_concurrency": concurrency,
        "channels": {c or "all": ch for c, ch in channels.items()},
        "capacity_per_core": per_core,
        "capacity_per_core_formula": per_core_formula,
        "capacity_per_instance": per_instance,
        "planned_capacity_per_instance": planned,
        "rss_per_in_flight_mib": rss_per,
        "rss_formula": rss_formula,
        "instances_by_cpu": by_cpu,
        "instances_by_memory": by_mem,
        "instances": instances,
        "in_flight_per_instance": in_flight,
        "max_in_flight_per_instance": max_in_flight,
        "max_in_flight_per_partition": per_partition,
        "memory_holds_in_flight": mem_cap,
        "workers": args.cores_per_instance,
        "kafka_partitions": partitions,
        "utilisation": util,
        "binding": binding,
        "feasible": feasible,
        "sustainable_peak_per_s": sustainable,
        "notes": notes,
    }


BINDING_TEXT = {"cpu": "CPU", "memory": "memory", "provider": "provider concurrency limits"}


def render(plan, args):
    rows = []

    def section(title):
        rows.append((None, title, None))

    def row(label, value, formula=""):
        rows.append((label, value, formula))

    single = len(plan["channels"]) == 1 and "all" in plan["channels"]
    h = args.headroom
    n = plan["instances"]

    section("Load")
    row("average rate", fmt_rate(plan["average_per_s"]) + "/s",
        "%s/day ÷ 86,400 s" % fmt_int(args.per_day))
    row("peak rate", fmt_rate(plan["peak_per_s"]) + "/s",
        "%s/s × %g peak factor" % (fmt_rate(plan["average_per_s"]), args.peak_factor))
    if single:
        row("provider concurrency", fmt_int(plan["provider_concurrency"]),
            "%s/s × %g s (Little's law)" % (fmt_rate(plan["peak_per_s"]),
                                                plan["channels"]["all"]["latency_s"]))
    else:
        for c, ch in plan["channels"].items():
            row("  %s" % c, "%s/s, %s concurrent" % (fmt_rate(ch["peak_per_s"]),
                                                      fmt_int(ch["concurrency"])),
                "%g share; × %g s" % (ch["share"], ch["latency_s"]))
        row("provider concurrency", fmt_int(plan["provider_concurrency"]),
            "Σ channel peak × channel latency (Little's law)")

    section("Per instance (%d cores)" % args.cores_per_instance)
    if not single:
        for c, ch in plan["channels"].items():
            row("  %s per core" % c, fmt_rate(ch["capacity_per_core"]) + "/s",
                ch["capacity_formula"])
    row("capacity per core", fmt_rate(plan["capacity_per_core"]) + "/s",
        plan["capacity_per_core_formula"])
    row("capacity", fmt_rate(plan["capacity_per_instance"]) + "/s",
        "%s/s × %d cores" % (fmt_rate(plan["capacity_per_core"]), args.cores_per_instance))
    row("planned capacity", fmt_rate(plan["planned_capacity_per_instance"]) + "/s",
        "%s/s × %g headroom" % (fmt_rate(plan["capacity_per_instance"]), h))
    row("RSS per in-flight", fmt_mem(plan["rss_per_in_flight_mib"]), plan["rss_formula"])

    section("Instances")
    row("by CPU", str(plan["instances_by_cpu"]),
        "ceil(%s/s ÷ %s/s)" % (fmt_rate(plan["peak_per_s"]),
                               fmt_rate(plan["planned_capacity_per_instance"])))
    row("by memory", str(plan["instances_by_memory"]),
        "ceil(%s in flight × %s ÷ (%g GiB × %g))" % (
            fmt_int(plan["provider_concurrency"]), fmt_mem(plan["rss_per_in_flight_mib"]),
            args.mem_per_instance_gib, h))
    row("instances", str(n), "max(by CPU, by memory)")

    section("Settings per instance")
    row("pipeline.workers", str(plan["workers"]), "one per core")
    row("pipeline.max_in_flight", fmt_int(plan["max_in_flight_per_instance"]),
        "%s ÷ %s ÷ %g, rounded up to 100; memory holds %s" % (
            fmt_int(plan["provider_concurrency"]), instances_text(n), h,
            fmt_int(plan["memory_holds_in_flight"])))
    row("pipeline.max_in_flight_per_partition", fmt_int(plan["max_in_flight_per_partition"]),
        "2 × %s ÷ %s partitions per instance, rounded up to 100, ≤ max_in_flight" % (
            fmt_int(plan["max_in_flight_per_instance"]), fmt_int(plan["kafka_partitions"] / n)))
    for c, ch in plan["channels"].items():
        row("providers[%s].max_in_flight" % ("" if c == "all" else c),
            fmt_int(ch["provider_max_in_flight"]),
            "ceil(%s ÷ %s ÷ %g)%s" % (
                fmt_int(ch["concurrency"]), instances_text(n), h,
                ", capped at provider limit ÷ instances" if ch.get("capped_by_provider_limit")
                else ""))
    row("Kafka partitions", str(plan["kafka_partitions"]),
        "max(%d, %s × %d workers), rounded up to a multiple of %d"
        % (MIN_PARTITIONS, instances_text(n), args.cores_per_instance, n))

    section("At peak")
    u = plan["utilisation"]
    row("CPU", fmt_pct(u["cpu"]), "of the capacity of %s" % instances_text(n))
    row("memory", fmt_pct(u["memory"]), "of %g GiB per instance" % args.mem_per_instance_gib)
    if "provider" in u:
        row("provider concurrency", fmt_pct(u["provider"]), "of the provider limit")
    row("binds first", BINDING_TEXT[plan["binding"]], "the highest of the above")

    out = ["Omnigate capacity plan",
           "measured figures: " + plan["source"]]
    if not plan["measured"]:
        out.append("  (no measurements: per-instance figures are the DESIGN.md §11 targets; "
                   "run make bench for real ones)")
    width = max(len(r[0]) for r in rows if r[0] is not None)
    vwidth = max(len(r[1]) for r in rows if r[0] is not None)
    for label, value, formula in rows:
        if label is None:
            out += ["", value]
        else:
            out.append(("  %-*s  %-*s  %s" % (width, label, vwidth, value, formula)).rstrip())
    if not plan["feasible"]:
        out += ["", "NOT FEASIBLE: the provider limits allow at most %s/s at peak"
                % fmt_rate(plan["sustainable_peak_per_s"])]
    if plan["notes"]:
        out += ["", "Notes:"] + ["  - " + s for s in plan["notes"]]
    return "\n".join(out) + "\n"


def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.no_results and args.results:
        parser.error("--results and --no-results together")
    results, source = load_results(args, parser)
    if results is not None:
        m = results.get("machine") or {}
        source += " (%s, %s, git %s, %s cores)" % (results.get("command") or "?",
                                                  results.get("started") or "?",
                                                  results.get("git") or "?", m.get("cores") or "?")
    try:
        plan = make_plan(args, results, source)
    except ValueError as e:
        parser.error(str(e))
    if args.json:
        print(json.dumps(plan, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render(plan, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
