-- wrk script of scripts/bench: RFC 7592 PUT with registration access token rotation.
--
--   wrk -tC -cC -d10s --latency -s bench/put.lua http://127.0.0.1:PORT -- CLIENTS_FILE
--
-- CLIENTS_FILE holds one pre-registered client a line: "CLIENT_ID RAT PATH". Run with as
-- many threads as connections: each wrk thread then has one connection, its own Lua state and
-- its own client (setup() numbers the threads), sends one PUT at a time, and keeps the new
-- registration access token of every 200 for its next PUT (the server rotates it on each PUT).
-- BODY (environment) is the registration body; the client's client_id is added to it.
-- done() prints the RESULT line of bench/request.lua with rotated=N (200s that carried a new
-- token); a 200 without one counts as unexpected.

local threads = {}
local next_index = 0

function setup(thread)
  thread:set("index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(args[1], "usage: -- CLIENTS_FILE")
  local lines = {}
  for line in io.lines(file) do
    if line ~= "" then table.insert(lines, line) end
  end
  local entry = assert(lines[index + 1], "no client for wrk thread " .. index .. " in " .. file)
  client_id, rat, path = string.match(entry, "^(%S+)%s+(%S+)%s+(%S+)$")
  assert(client_id, "bad line in " .. file .. ": " .. entry)
  local base = assert(os.getenv("BODY"), "BODY is not set")
  -- {"client_id":"...", + the rest of the registration body
  body = '{"client_id":"' .. client_id .. '",' .. string.sub(base, 2)
  wrk.headers["Accept"] = "application/json"
  wrk.headers["Content-Type"] = "application/json"
  n_expected, n_unexpected, n_rotated, codes, sample = 0, 0, 0, {}, ""
end

function request()
  wrk.headers["Authorization"] = "Bearer " .. rat
  return wrk.format("PUT", path, nil, body)
end

function response(status, headers, resp_body)
  local new = nil
  if status == 200 then
    new = string.match(resp_body or "", '"registration_access_token"%s*:%s*"([^"]+)"')
  end
  if new then
    rat = new
    n_expected = n_expected + 1
    n_rotated = n_rotated + 1
  else
    n_unexpected = n_unexpected + 1
    local k = status == 200 and "200-without-new-token" or tostring(status)
    codes[k] = (codes[k] or 0) + 1
    if sample == "" then sample = k .. " " .. string.sub(resp_body or "", 1, 300) end
  end
end

function done(summary, latency, requests)
  local ok, bad, rotated, all_codes, first = 0, 0, 0, {}, ""
  for _, t in ipairs(threads) do
    ok = ok + (t:get("n_expected") or 0)
    bad = bad + (t:get("n_unexpected") or 0)
    rotated = rotated + (t:get("n_rotated") or 0)
    for k, v in pairs(t:get("codes") or {}) do all_codes[k] = (all_codes[k] or 0) + v end
    if first == "" then first = t:get("sample") or "" end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.1f requests=%d expected=%d unexpected=%d expect_status=200 p50_ms=%.3f "
      .. "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d timeout=%d duration_s=%.2f rotated=%d\n",
    summary.requests / secs, summary.requests, ok, bad,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.timeout, secs, rotated))
  for k, v in pairs(all_codes) do io.write(string.format("STATUS %s %d\n", k, v)) end
  if first ~= "" then io.write("FIRST_UNEXPECTED " .. string.gsub(first, "[\r\n]", " ") .. "\n") end
end
