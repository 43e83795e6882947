#!/usr/bin/env python3
"""Writes a mixed sample load for `make demo`: one "topic<TAB>key<TAB>json" line per request.

Mix (of --count): 45% OTP SMS (transactional), 15% Viber-first cascades that
fall back to SMS (bulk), 8% Unicode order updates by SMS, 15% email (text +
html, one-click unsubscribe), 15% web push, 2% invalid requests of several
kinds. --push-key gives P-256 public keys (base64url, from `omnigate
vapid-keys --json`) to use as subscription keys, as a browser's would be.
"""
import argparse
import base64
import json
import random

REQUESTS = "omnigate.requests"
BULK = "omnigate.requests.bulk"

INVALID = [
    "not json at all",
    {"to": {"phone": "0700"}, "channels": ["sms"], "content": {"sms": {"text": "bad phone"}}},
    {"to": {"phone": "+40700000001"}, "channels": ["sms"], "content": {"sms": {"text": "no id"}}},
    {"to": {"phone": "+40700000001"}, "channels": ["sms"]},
    {"to": {"email": "not-an-address"}, "channels": ["email"],
     "content": {"email": {"from": "Shop <noreply@shop.example>", "subject": "x", "text": "y"}}},
]


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--push-key", action="append", default=[])
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for i in range(args.count):
        phone = "+4070%07d" % rng.randrange(10_000_000)
        rid = "demo-%d" % i
        topic = REQUESTS
        r = rng.random()
        if r < 0.02:
            doc = INVALID[i % len(INVALID)]
            if isinstance(doc, dict):
                doc = dict(doc)
                if i % len(INVALID) != 2:
                    doc["id"] = "demo-bad-%d" % i
                body = json.dumps(doc)
            else:
                body = doc
        elif r < 0.17:
            topic = BULK
            body = json.dumps({
                "id": rid, "tenant": "shop-ro", "campaign": "autumn-sale",
                "to": {"phone": phone, "viber": "vb-%07d" % rng.randrange(10_000_000)},
                "channels": ["viber", "sms"],
                "cascade": {"viber": {"wait_for": "sent", "timeout": "10m"}},
                "content": {"viber": {"text": "Autumn sale: -30% today",
                                      "image_url": "https://cdn.shop.example/sale.png",
                                      "button": {"caption": "Shop now",
                                                 "url": "https://shop.example/sale"}},
                            "sms": {"text": "Autumn sale: -30% today", "sender": "Shop"}}})
        elif r < 0.25:
            body = json.dumps({
                "id": rid, "tenant": "shop-ro",
                "to": {"phone": phone}, "channels": ["sms"],
                "content": {"sms": {"text": "Comanda %d a fost expediată. Mulțumim!" % i}}},
                ensure_ascii=False)
        elif r < 0.40:
            body = json.dumps({
                "id": rid, "tenant": "shop-ro",
                "to": {"email": "client%d@example.com" % rng.randrange(1_000_000)},
                "channels": ["email"],
                "content": {"email": {
                    "from": "Shop <noreply@shop.example>",
                    "subject": "Comanda %d a fost expediată" % i,
                    "text": "Your order %d is on its way." % i,
                    "html": "<p>Your order <b>%d</b> is on its way.</p>" % i,
                    "unsubscribe_url": "https://shop.example/u/%d" % i}}},
                ensure_ascii=False)
        elif r < 0.55 and args.push_key:
            body = json.dumps({
                "id": rid, "tenant": "shop-ro", "lane": "bulk",
                "to": {"webpush": {"endpoint": "https://push.example.net/push/sub-%d" % i,
                                   "p256dh": rng.choice(args.push_key),
                                   "auth": b64url(rng.randbytes(16))}},
                "channels": ["webpush"],
                "content": {"webpush": {"title": "Order shipped", "body": "Order %d is on its way" % i,
                                        "url": "https://shop.example/o/%d" % i,
                                        "ttl": "1d", "urgency": "normal", "topic": "order-%d" % i}}})
        else:
            body = json.dumps({
                "id": rid, "tenant": "otp",
                "to": {"phone": phone}, "channels": ["sms"],
                "content": {"sms": {"text": "Your code is %06d" % rng.randrange(10**6)}}})
        print("%s\t%s\t%s" % (topic, phone, body))


if __name__ == "__main__":
    main()
