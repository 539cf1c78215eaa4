-- Sends the JSON bodies listed one per line in $BENCH_BODIES to $BENCH_PATH in turn, and prints
-- the run's figures as one JSON line prefixed with BENCH_JSON for the bench runner to read.
local path = os.getenv("BENCH_PATH") or "/decide"
local headers = { ["Content-Type"] = "application/json" }
local auth = os.getenv("BENCH_AUTHORIZATION")
if auth ~= nil and auth ~= "" then headers["Authorization"] = auth end
local requests = {}
local i = 0

-- Built in init, once wrk has set the Host header from the URL.
function init(_)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if line ~= "" then requests[#requests + 1] = wrk.format("POST", path, headers, line) end
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
