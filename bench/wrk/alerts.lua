-- Load for bench/intake.py: one connection per wrk thread (run wrk with -t N -c N), so each thread's
-- responses answer its requests in order and the script knows exactly which alerts were accepted.
--
-- wrk -t8 -c8 -d30s -s alerts.lua URL -- MODE FLAVOR RUN [TOKEN]
--   MODE:   single (one alert per post) | am (100-alert Alertmanager notifications, 10 repeated)
--   FLAVOR: generic (pagerbot's /alerts/generic form) | alerta (Alerta's POST /alert form); the am mode
--           sends the same Alertmanager v4 body to every target.
--   RUN:    a prefix that makes this run's alert keys unique.
-- The main state writes a JSON summary to the file named by $WRK_OUT.
--
-- Latency is measured here, from handing a request to wrk to its complete response, on the monotonic
-- clock, into a log histogram (1 % buckets): wrk's own statistics are "corrected" for coordinated
-- omission as if the load were open-loop, which this closed-loop load (8 clients, each waiting for its
-- answer) is not. wrk calls request() once before the run to check the script; that call is never sent,
-- so accepted requests are recorded as explicit ranges of request numbers.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } pb_timespec;
int clock_gettime(int clk, pb_timespec *tp);
]]
local timespec = ffi.new("pb_timespec")
local function now_us()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) * 1e6 + tonumber(timespec.tv_nsec) / 1e3
end
local LOG_STEP = math.log(1.01)

local PER_POST = 100
local REPEATS = 10
local STARTS_AT = "2026-01-01T00:00:00Z"

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local mode, flavor, run, token, path, headers
counter_total = 0
local tid, counter, started = 0, 0, 0
-- Globals of each thread's state, read by done() through thread:get. That copies numbers and strings
-- only (its table copy corrupts the Lua stack in wrk 4.1), so counts live in one global per key
-- ("s200", "b812") with the keys listed in a string, and ranges of accepted request numbers are kept
-- as closed ranges in a string plus the open one.
accepted, range_lo, range_hi = 0, -1, -2
closed_ranges, failed, status_keys, bucket_keys = "", "", "", ""

function init(args)
  mode, flavor, run, token = args[1], args[2], args[3], args[4]
  tid = wrk.thread:get("tid")
  headers = {["Content-Type"] = "application/json"}
  if token ~= nil and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if mode == "single" then
    path = (flavor == "alerta") and "/alert" or "/alerts/generic"
  else
    path = (flavor == "alerta") and "/webhooks/prometheus" or "/alerts/alertmanager"
  end
end

local function key(c, j)
  if j == nil then return string.format("%s-%d-%d", run, tid, c) end
  return string.format("%s-%d-%d-%d", run, tid, c, j)
end

local function cluster() return string.format("%s-c%d", run, tid) end

local function am_alert(fp)
  return string.format(
    '{"status":"firing","labels":{"alertname":"BenchAlert","instance":"%s","cluster":"%s","severity":"warning",' ..
    '"job":"node"},"annotations":{"summary":"load is high on %s","description":"load per core over 4 for 5m"},' ..
    '"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example:9090/graph",' ..
    '"fingerprint":"%s"}', fp, cluster(), fp, STARTS_AT, fp)
end

function request()
  local c = counter
  counter = counter + 1
  counter_total = counter
  local body
  if mode == "single" then
    local fp = key(c)
    if flavor == "alerta" then
      body = string.format(
        '{"resource":"%s","event":"BenchAlert","environment":"Production","severity":"warning",' ..
        '"service":["bench"],"group":"%s","text":"load is high on %s","tags":["cluster=%s"]}',
        fp, cluster(), fp, cluster())
    else
      body = string.format(
        '{"title":"load is high on %s","key":"%s","host":"%s","severity":"warning",' ..
        '"labels":{"cluster":"%s","alertname":"BenchAlert"}}', fp, fp, fp, cluster())
    end
  else
    local parts = {}
    for j = 0, PER_POST - REPEATS - 1 do parts[#parts + 1] = am_alert(key(c, j)) end
    -- Alertmanager resends whole groups: repeat 10 alerts of the previous post (of this one, first time)
    local prev = (c > 0) and c - 1 or c
    for j = 0, REPEATS - 1 do parts[#parts + 1] = am_alert(key(prev, j)) end
    body = string.format(
      '{"version":"4","groupKey":"{}:{cluster=\\"%s\\"}","status":"firing","receiver":"bench",' ..
      '"groupLabels":{"cluster":"%s"},"commonLabels":{"cluster":"%s"},"commonAnnotations":{},' ..
      '"externalURL":"http://alertmanager.example:9093","truncatedAlerts":0,"alerts":[%s]}',
      cluster(), cluster(), cluster(), table.concat(parts, ","))
  end
  local req = wrk.format("POST", path, headers, body)
  started = now_us()
  return req
end

local function count(prefix, k, keys)
  local name = prefix .. k
  local n = _G[name]
  if n == nil then
    _G[name] = 1
    return (keys == "" and "" or keys .. ",") .. k
  end
  _G[name] = n + 1
  return keys
end

function response(status, hdrs, body)
  local elapsed = now_us() - started
  local c = counter - 1
  bucket_keys = count("b", math.floor(math.log(math.max(elapsed, 1)) / LOG_STEP), bucket_keys)
  status_keys = count("s", status, status_keys)
  if status >= 200 and status < 300 then
    accepted = accepted + 1
    if range_hi == c - 1 then
      range_hi = c
    else
      if range_hi >= range_lo then
        closed_ranges = closed_ranges .. string.format("[%d,%d],", range_lo, range_hi)
      end
      range_lo, range_hi = c, c
    end
  else
    failed = (failed == "" and "" or failed .. ",") .. c
  end
end

local function counts(t, prefix, keys)
  local parts = {}
  for k in string.gmatch(keys, "[^,]+") do
    parts[#parts + 1] = string.format('"%s":%d', k, t:get(prefix .. k))
  end
  return table.concat(parts, ",")
end

function done(summary, latency, requests)
  local out = {}
  for _, t in ipairs(threads) do
    out[#out + 1] = string.format(
      '{"tid":%d,"requested":%d,"accepted":%d,"statuses":{%s},"accepted_ranges":[%s],"failed":[%s],' ..
      '"latency_log_buckets":{%s}}',
      t:get("tid"), t:get("counter_total") or 0, t:get("accepted") or 0,
      counts(t, "s", t:get("status_keys")),
      t:get("closed_ranges") .. (t:get("range_hi") >= t:get("range_lo")
        and string.format("[%d,%d]", t:get("range_lo"), t:get("range_hi")) or ""):gsub(",$", ""),
      t:get("failed"), counts(t, "b", t:get("bucket_keys")))
  end
  local e = summary.errors
  local json = string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d},"log_step":%.17g,"threads":[%s]}',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    LOG_STEP, table.concat(out, ","))
  local f = assert(io.open(os.getenv("WRK_OUT"), "w"))
  f:write(json)
  f:close()
end
