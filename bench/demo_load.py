#!/usr/bin/env python3
"""Writes a mixed sample load for `make demo`: one "key<TAB>json" line per request.

Mix: OTP-style SMS (transactional), Viber-first cascades that fall back to SMS,
multi-segment and Unicode SMS, and about 2% invalid requests of several kinds.
"""
import argparse
import json
import random

INVALID = [
    "not json at all",
    json.dumps({"id": "x", "to": {"phone": "0700"}, "channels": ["sms"],
                "content": {"sms": {"text": "bad phone"}}}),
    json.dumps({"to": {"phone": "+40700000001"}, "channels": ["sms"],
                "content": {"sms": {"text": "no id"}}}),
    json.dumps({"id": "y", "to": {"phone": "+40700000001"}, "channels": ["sms"]}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for i in range(args.count):
        phone = "+4070%07d" % rng.randrange(10_000_000)
        r = rng.random()
        if r < 0.02:
            body = INVALID[i % len(INVALID)]
            if body.startswith("{"):
                doc = json.loads(body)
                if "id" in doc:
                    doc["id"] = "demo-bad-%d" % i
                body = json.dumps(doc)
        elif r < 0.12:
            body = json.dumps({
                "id": "demo-%d" % i, "tenant": "shop-ro", "campaign": "autumn-sale",
                "to": {"phone": phone, "viber": phone},
                "channels": ["viber", "sms"],
                "cascade": {"viber": {"wait_for": "delivered", "timeout": "10m"}},
                "content": {"viber": {"text": "Autumn sale: -30% today"},
                            "sms": {"text": "Autumn sale: -30% today", "sender": "Shop"}}})
        elif r < 0.20:
            body = json.dumps({
                "id": "demo-%d" % i, "tenant": "shop-ro",
                "to": {"phone": phone}, "channels": ["sms"],
                "content": {"sms": {"text": "Comanda %d a fost expediată. Mulțumim!" % i}}},
                ensure_ascii=False)
        else:
            body = json.dumps({
                "id": "demo-%d" % i, "tenant": "otp",
                "to": {"phone": phone}, "channels": ["sms"],
                "content": {"sms": {"text": "Your code is %06d" % rng.randrange(10**6)}}})
        print("%s\t%s" % (phone, body))


if __name__ == "__main__":
    main()
