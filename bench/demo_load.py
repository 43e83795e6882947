#!/usr/bin/env python3
"""Writes a mixed sample load for `make demo`: one "topic<TAB>key<TAB>json" line per request.

Mix (of --count): 45% OTP SMS (transactional), 15% Viber-first cascades that
fall back to SMS when Viber's receipt says failed or does not come in 5 s (bulk), 8% Unicode order updates by SMS, 15% email (text +
html, one-click unsubscribe), 15% web push, 2% invalid requests of several
kinds. On top of that, what the delivery policy is for: about 2% of requests
published twice (same id), 0.5% re-published under a new id with the same
content, 1% campaign SMS to an opted-out number (SUPPRESSED_PHONE), 1% to one
much-messaged customer (CAPPED_PHONE, over tenant shop-ro's 1/1h bulk cap),
and 1% bulk SMS for tenant night-shop, whose quiet hours hold them. --push-key gives P-256 public keys (base64url, from `omnigate
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


# demo.sh posts this number's opt-out to /v1/suppressions before publishing.
SUPPRESSED_PHONE = "+40700999001"
CAPPED_PHONE = "+40700888001"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--push-key", action="append", default=[])
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = []
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
                # Viber first; SMS when Viber's delivery receipt has not
                # come within 5 s, or a failure receipt came.
                "cascade": {"viber": {"wait_for": "delivered", "timeout": "5s"}},
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
        out.append((topic, phone, body))
        extra = rng.random()
        if extra < 0.02:
            out.append((topic, phone, body))  # published twice: one is a duplicate
        elif extra < 0.025 and '"shop-ro"' in body and topic == REQUESTS:
            # The same message to the same address under a new id: shop-ro
            # has content dedup on.
            out.append((topic, phone, body.replace('"id": "%s"' % rid, '"id": "%s-again"' % rid)))
        elif extra < 0.035:
            out.append((BULK, SUPPRESSED_PHONE, json.dumps({
                "id": "demo-optout-%d" % i, "tenant": "shop-ro", "campaign": "autumn-sale",
                "to": {"phone": SUPPRESSED_PHONE}, "channels": ["sms"],
                "content": {"sms": {"text": "Autumn sale: -30%% today (%d)" % i}}})))
        elif extra < 0.045:
            out.append((BULK, CAPPED_PHONE, json.dumps({
                "id": "demo-capped-%d" % i, "tenant": "shop-ro", "campaign": "autumn-sale",
                "to": {"phone": CAPPED_PHONE, "user_id": "loyal-customer"}, "channels": ["sms"],
                "content": {"sms": {"text": "New arrivals (%d)" % i}}})))
        elif extra < 0.055:
            out.append((BULK, phone, json.dumps({
                "id": "demo-night-%d" % i, "tenant": "night-shop", "campaign": "late-offer",
                "to": {"phone": phone, "timezone": "Europe/Bucharest"}, "channels": ["sms"],
                "content": {"sms": {"text": "Late offer (%d)" % i}}})))
    for topic, key, body in out:
        print("%s\t%s\t%s" % (topic, key, body))


if __name__ == "__main__":
    main()
