-- wrk script for bench/kannel/run.sh: exactly KANNEL_BENCH_REQUESTS sendsms GETs in total,
-- split over wrk's threads, each with its own recipient (+407TNNNNNNN, T = thread).
--
-- wrk has no request count, so each thread stops itself once all of its own requests are
-- answered, and drops a file KANNEL_BENCH_DONE_DIR/thread-<id>.done; wrk itself only returns
-- after -d or on SIGINT, which run.sh sends once every thread's file is there. A connection that
-- finds its thread's quota used up waits (delay()) and then sends a harmless GET that smsbox
-- answers 404 (not counted); a thread whose last answers never come (a connection lost with its
-- request) gives up 3 s after its last answer.
--
-- wrk 4 calls request() once on thread 0 before the run to check the script (the request is
-- not sent), so thread 0 does not count its first call.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local total = tonumber(os.getenv("KANNEL_BENCH_REQUESTS"))
  local nthreads = tonumber(os.getenv("KANNEL_BENCH_THREADS"))
  quota = math.floor(total / nthreads)
  if id < total % nthreads then quota = quota + 1 end
  issued, answered, accepted, refused, filler = 0, 0, 0, 0, 0
  prefix = "/cgi-bin/sendsms?username=" .. os.getenv("KANNEL_BENCH_USER") ..
           "&password=" .. os.getenv("KANNEL_BENCH_PASSWORD") ..
           "&from=12345&text=Omnigate%20reference%20message%20"
  filler_request = wrk.format("GET", "/bench-idle")
  checked = id ~= 0
  last_answer = os.time()
  finished = false
end

function delay()
  if issued < quota then return 0 end
  return 500
end

local function finish()
  if finished then return end
  finished = true
  local f = io.open(os.getenv("KANNEL_BENCH_DONE_DIR") .. "/thread-" .. id .. ".done", "w")
  f:write(answered, "\n")
  f:close()
  wrk.thread:stop()
end

local function sendsms(n)
  return wrk.format("GET", prefix .. n .. string.format("&to=%%2B407%d%07d", id, n))
end

function request()
  if not checked then
    checked = true
    return sendsms(issued + 1)
  end
  if issued >= quota then
    if answered >= quota or os.time() - last_answer >= 3 then finish() end
    filler = filler + 1
    return filler_request
  end
  issued = issued + 1
  return sendsms(issued)
end

function response(status, headers, body)
  if status == 404 then return end -- a filler's answer
  answered = answered + 1
  last_answer = os.time()
  if status == 202 then accepted = accepted + 1 else refused = refused + 1 end
  if answered >= quota then finish() end
end

function done(summary, latency, requests)
  local issued_total, answered_total, accepted_total, refused_total = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    issued_total = issued_total + t:get("issued")
    answered_total = answered_total + t:get("answered")
    accepted_total = accepted_total + t:get("accepted")
    refused_total = refused_total + t:get("refused")
  end
  local e = summary.errors
  io.write(string.format(
    'KANNEL_WRK_RESULT {"issued":%d,"answered":%d,"accepted":%d,"refused":%d,' ..
    '"duration_s":%.6f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_ms":{"p50":%.3f,"p99":%.3f}}\n',
    issued_total, answered_total, accepted_total, refused_total, summary.duration / 1e6,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
