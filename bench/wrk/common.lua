-- Shared by the benchmark's wrk scripts (loaded with dofile from each of them).
-- Every thread gets its own id in setup(), so the unique strings it makes (order ids,
-- idempotency keys) never collide with another thread's; BENCH_RUN makes them unique
-- across the runs that share one database.
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  table.insert(threads, thread)
end

run = os.getenv("BENCH_RUN") or tostring(os.time())
members = tonumber(os.getenv("BENCH_MEMBERS") or "1000")
api_key = os.getenv("BENCH_API_KEY") or ""
counter = 0
statuses = {}

function unique(prefix)
  counter = counter + 1
  return string.format("%s-%s-%d-%d", prefix, run, thread_id, counter)
end

function random_member()
  return string.format("bench-%d", math.random(1, members))
end

function shop_headers()
  return {
    ["Authorization"] = "Api-Key " .. api_key,
    ["Content-Type"] = "application/json",
  }
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_id)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

-- One JSON line on stdout for bench/api.py: the counts by status of every thread, the
-- socket errors and the latency percentiles (microseconds).
function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "non_2xx": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.timeout,
    e.status, table.concat(parts, ", ")))
end
