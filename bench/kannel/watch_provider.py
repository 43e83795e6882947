#!/usr/bin/env python3
"""Watches the mock provider's /_mock/stats while Kannel pushes to it.

Polls `apis.generic` every --interval seconds on one keep-alive connection and stops when
the count (minus --baseline) reaches --target, or when --stop-file exists and the count has
not grown for --idle seconds, or at --deadline seconds. Writes a JSON summary to --out:

  received      messages counted at /generic/send since the baseline
  first_t/last_t  monotonic times of the first poll that saw any message and of the poll that
                saw the final count; sends_per_s = (received - first_count) / (last_t - first_t)
                (if all arrived between two polls: received / time since the last empty poll)
"""
import argparse
import http.client
import json
import os
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--baseline", type=int, required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--idle", type=float, default=3.0)
    p.add_argument("--deadline", type=float, default=600.0)
    p.add_argument("--ready-file", help="created after the first poll")
    a = p.parse_args()

    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5)

    def stats() -> dict:
        nonlocal conn
        try:
            conn.request("GET", "/_mock/stats")
            return json.loads(conn.getresponse().read())
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5)
            conn.request("GET", "/_mock/stats")
            return json.loads(conn.getresponse().read())

    start = time.monotonic()
    first_t = first_count = None
    zero_t = start  # the last poll that saw nothing yet
    last_t, last_count, last_change = None, 0, start
    status = {}
    reason = "deadline"
    while True:
        now = time.monotonic()
        s = stats()
        count = s["apis"]["generic"] - a.baseline
        status = s.get("status", {})
        if a.ready_file and not os.path.exists(a.ready_file):
            open(a.ready_file, "w").close()
        if count <= 0:
            zero_t = now
        elif first_t is None:
            first_t, first_count = now, count
        if count != last_count:
            last_t, last_count, last_change = now, count, now
        if count >= a.target:
            reason = "target"
            break
        if os.path.exists(a.stop_file) and now - last_change >= a.idle:
            reason = "idle"
            break
        if now - start >= a.deadline:
            break
        time.sleep(a.interval)

    span = (last_t - first_t) if first_t is not None and last_t is not None else 0.0
    if span > 0:
        rate = (last_count - first_count) / span
    elif last_count > 0:  # everything arrived between two polls
        span = last_t - zero_t
        rate = last_count / span
    else:
        rate = 0.0
    with open(a.out, "w") as f:
        json.dump({"received": last_count, "first_count": first_count or 0,
                   "span_s": span, "sends_per_s": rate, "stopped_by": reason,
                   "provider_status": status}, f)


if __name__ == "__main__":
    main()
