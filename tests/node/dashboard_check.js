// The dashboard's browser test: opens GET / in headless Chromium (Debian's,
// driven over the DevTools protocol by puppeteer-core) while the gateway is
// under load, and checks that what the page plots moves and agrees with
// /metrics. Saves a screenshot.
//
// usage: node dashboard_check.js BASE_URL TOKEN SCREENSHOT_PATH
// Prints one JSON line with what it saw; exits non-zero with the reason
// when a check fails.
"use strict";
const puppeteer = require("puppeteer-core");

const [base, token, screenshot] = process.argv.slice(2);

function fail(why, seen) {
  console.log(JSON.stringify({ ok: false, why, seen }));
  process.exit(1);
}

async function sentInMetrics() {
  const res = await fetch(base + "/metrics", { headers: { Authorization: "Bearer " + token } });
  if (!res.ok) fail("GET /metrics: HTTP " + res.status);
  const m = /^omnigate_requests_final_total\{status="sent"\} (\d+)$/m.exec(await res.text());
  if (!m) fail("no sent total in /metrics");
  return Number(m[1]);
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Root in CI: Chromium's sandbox needs an unprivileged user.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.setViewport({ width: 1400, height: 1200 });
    // The browser is challenged for Basic credentials: the token is the password.
    await page.authenticate({ username: "ops", password: token });
    const res = await page.goto(base + "/", { waitUntil: "load" });
    if (res.status() !== 200) fail("GET /: HTTP " + res.status());

    // The figures move: five reads in a row with sends per second above zero.
    try {
      await page.waitForFunction(() => {
        const s = window.omnigate && window.omnigate.samples;
        if (!s || s.length < 5) return false;
        return s.slice(-5).every((x) => Object.values(x.channels).reduce((a, b) => a + b, 0) > 0);
      }, { timeout: 60000, polling: 200 });
    } catch (e) {
      const where = await page.evaluate(() => ({
        samples: window.omnigate ? window.omnigate.samples.slice(-5) : null,
        reads: window.omnigate ? window.omnigate.reads.length : null,
        ready: document.getElementById("ready").textContent,
      }));
      fail("the figures did not move: " + e.message, { where, errors });
    }

    const before = await sentInMetrics();
    const seen = await page.evaluate(() => {
      const reads = window.omnigate.reads;
      const last = reads[reads.length - 1];
      const samples = window.omnigate.samples;
      const rates = samples.slice(-5).map((x) => Object.values(x.channels).reduce((a, b) => a + b, 0));
      const tile = (id) => document.querySelector("#" + id + " .value").textContent;
      return {
        sent_total: last.final.sent,
        sends_per_s: rates,
        tile_sends: tile("tile-sends"),
        tile_in_flight: tile("tile-in-flight"),
        ready: document.getElementById("ready").textContent,
        provider_rows: [...document.querySelectorAll("#providers tbody tr")].map((r) => r.textContent),
        lag_rows: document.querySelectorAll("#lag tbody tr").length,
        legend: document.getElementById("legend-channels").textContent,
        lanes: document.getElementById("legend-lanes").textContent,
      };
    });
    const after = await sentInMetrics();
    seen.metrics_sent_before = before;
    seen.metrics_sent_after = after;

    // What the page read is what /metrics counts: its last read comes before
    // the scrape, and no more than a few seconds of sends lie between them.
    const fastest = Math.max(...seen.sends_per_s);
    if (seen.sent_total > after) fail("the page counts more sends than /metrics", seen);
    if (before - seen.sent_total > fastest * 3 + 50) fail("the page lags /metrics by more than a few seconds", seen);
    if (!(Number(seen.tile_sends.replace("k", "e3")) > 0)) fail("the sends tile shows no sends", seen);
    if (seen.ready !== "ready") fail("the header does not say ready", seen);
    if (!seen.provider_rows.some((r) => r.startsWith("sms-mainsmsclosed"))) fail("no row for the provider, with its circuit closed", seen);
    if (!seen.legend.includes("sms")) fail("no sms series in the channel chart", seen);
    if (!seen.lanes.includes("transactional") || !seen.lanes.includes("bulk")) fail("no lane series in the lane chart", seen);
    if (errors.length) fail("errors in the page: " + errors.join("; "), seen);

    // A few more seconds of history for the picture.
    await page.waitForFunction(() => window.omnigate.samples.length >= 12, { timeout: 30000, polling: 200 });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ ok: true, seen }));
  } finally {
    await browser.close();
  }
})().catch((e) => fail(String(e && e.stack || e)));
