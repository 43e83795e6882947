#!/usr/bin/env python3
"""Summarises a demo run from the topics themselves.

requests.out: "<kafka timestamp ms>\t<request json>" per line
events.out:   one event JSON per line
dlq.out:      one line of DLQ headers per record
"""
import json
import sys
from collections import Counter
from datetime import datetime


def ts_ms(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000.0


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def main(req_path, ev_path, dlq_path):
    published = {}
    first_pub = None
    with open(req_path, encoding="utf-8") as f:
        for line in f:
            t, _, body = line.rstrip("\n").partition("\t")
            t = float(t)
            first_pub = t if first_pub is None else min(first_pub, t)
            try:
                published[json.loads(body)["id"]] = t
            except (ValueError, KeyError, TypeError):
                pass
    finals = {}
    statuses = Counter()
    channels = Counter()
    failed = Counter()
    fallbacks = Counter()
    policy = Counter()
    receipts = {}  # channel -> Counter of receipt statuses
    fallback_kinds = {}  # channel fallen from -> Counter of why
    with open(ev_path, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            if ev["status"] == "fallback":
                why = (ev.get("reason") or "?").split(":", 1)[0]
                fallbacks[why] += 1
                kind = {"cascade_timeout": "by timeout",
                        "cascade_receipt": "by failure receipt"}.get(why, "by " + why)
                fallback_kinds.setdefault(ev.get("channel") or "-", Counter())[kind] += 1
            if "raw_status" in ev:  # a delivery receipt's event
                receipts.setdefault(ev.get("channel") or "-", Counter())[ev["status"]] += 1
            if ev["status"] in ("duplicate", "suppressed", "deferred"):
                rule = (ev.get("reason") or "?").split(":", 1)[0]
                policy["%s (%s)" % (ev["status"], rule)] += 1
            if ev.get("final"):
                finals[ev["id"]] = ev
                statuses[ev["status"]] += 1
                if ev["status"] == "sent":
                    channels[ev["channel"]] += 1
                elif ev["status"] == "failed":
                    failed["%s: %s" % (ev.get("channel") or "-", ev.get("reason") or "?")] += 1
    with open(dlq_path, encoding="utf-8") as f:
        dlq = sum(1 for line in f if line.strip())
    lat = sorted(ts_ms(ev["ts"]) - published[i] for i, ev in finals.items() if i in published)
    last_final = max(ts_ms(ev["ts"]) for ev in finals.values())
    # Fallback reasons that name a policy rule are skipped channels.
    span_s = max(1e-3, (last_final - first_pub) / 1000.0)
    print("   requests consumed : %d" % len(finals))
    for s, n in sorted(statuses.items()):
        print("   final %-11s : %d" % (s, n))
    print("   sent by channel   : %s" % ", ".join("%s %d" % kv for kv in sorted(channels.items())))
    if failed:
        print("   failed (channel: reason): %s" % ", ".join("%s %d" % kv for kv in sorted(failed.items())))
    print("   cascade fallbacks : %d%s" % (sum(fallbacks.values()), (" (" + ", ".join(
        "%s %d" % kv for kv in sorted(fallbacks.items())) + ")") if fallbacks else ""))
    for ch in sorted(receipts):
        print("   receipts %-8s : %s" % (ch, ", ".join("%s %d" % kv for kv in sorted(receipts[ch].items()))))
    for ch in sorted(fallback_kinds):
        print("   fallback from %-3s : %s" % (ch, ", ".join("%s %d" % kv for kv in sorted(fallback_kinds[ch].items()))))
    print("   policy decisions  : %s" % (", ".join("%s %d" % kv for kv in sorted(policy.items()))
                                          or "none"))
    print("   DLQ records       : %d" % dlq)
    print("   throughput        : %.0f requests/s (first publish to last final event, %.2f s)"
          % (len(finals) / span_s, span_s))
    print("   latency publish->final event: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (pct(lat, 50), pct(lat, 99), lat[-1] if lat else float("nan")))


if __name__ == "__main__":
    main(*sys.argv[1:4])
