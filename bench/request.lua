-- wrk script of scripts/bench: one fixed request (registration POST, GET of a client with its
-- registration access token, discovery GET), counting responses by status.
--
--   wrk -t1 -c16 -d10s --latency -s bench/request.lua http://127.0.0.1:PORT -- PATH [TOKEN]
--
-- Environment: METHOD (default POST), BODY (sent unless GET), EXPECT_STATUS (default 201 for
-- POST, 200 otherwise). done() prints the line scripts/bench reads (the format of
-- ../shared/bench/register.lua):
--   RESULT rps=... requests=... expected=... unexpected=... p50_ms=... p99_ms=... errors=...
-- then "STATUS <code> <count>" per unexpected status and a sample of the first unexpected body.

local method = string.upper(os.getenv("METHOD") or "POST")
local expect = tonumber(os.getenv("EXPECT_STATUS") or (method == "POST" and "201" or "200"))
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = assert(args[1], "usage: -- PATH [TOKEN]")
  local token = args[2] or ""
  wrk.method = method
  wrk.path = path
  wrk.headers["Accept"] = "application/json"
  if method ~= "GET" then
    wrk.body = assert(os.getenv("BODY"), "BODY is not set")
    wrk.headers["Content-Type"] = "application/json"
  end
  if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
  n_expected, n_unexpected, codes, sample = 0, 0, {}, ""
end

function response(status, headers, body)
  if status == expect then
    n_expected = n_expected + 1
  else
    n_unexpected = n_unexpected + 1
    local k = tostring(status)
    codes[k] = (codes[k] or 0) + 1
    if sample == "" then sample = k .. " " .. string.sub(body or "", 1, 300) end
  end
end

function done(summary, latency, requests)
  local ok, bad, all_codes, first = 0, 0, {}, ""
  for _, t in ipairs(threads) do
    ok = ok + (t:get("n_expected") or 0)
    bad = bad + (t:get("n_unexpected") or 0)
    for k, v in pairs(t:get("codes") or {}) do all_codes[k] = (all_codes[k] or 0) + v end
    if first == "" then first = t:get("sample") or "" end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.1f requests=%d expected=%d unexpected=%d expect_status=%d p50_ms=%.3f "
      .. "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d timeout=%d duration_s=%.2f\n",
    summary.requests / secs, summary.requests, ok, bad, expect,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.timeout, secs))
  for k, v in pairs(all_codes) do io.write(string.format("STATUS %s %d\n", k, v)) end
  if first ~= "" then io.write("FIRST_UNEXPECTED " .. string.gsub(first, "[\r\n]", " ") .. "\n") end
end
