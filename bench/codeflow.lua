-- wrk script of scripts/bench: the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636),
-- by a signed-in browser and a public client.
--
--   wrk -tC -cC -d10s -s bench/codeflow.lua http://127.0.0.1:PORT -- \
--     AUTH_PATH TOKEN_PATH CLIENT_ID REDIRECT_URI STATE CODE_CHALLENGE CODE_VERIFIER SESSION_COOKIE
--
-- Run with as many threads as connections: each wrk thread then has one connection and its own
-- Lua state, and alternates the flow's two requests on it:
--   1. GET AUTH_PATH?response_type=code&...&code_challenge=...&code_challenge_method=S256 with
--      the sign-in session cookie (SESSION_COOKIE, "name=value"): expects 302 to REDIRECT_URI
--      with `code` and the same `state`;
--   2. POST TOKEN_PATH grant_type=authorization_code with that code, the verifier, redirect_uri
--      and client_id: expects 200 with an access_token. That is one flow.
-- Any other answer counts as unexpected (and the thread starts over with step 1).
-- Each request's time is taken with clock_gettime (LuaJIT's ffi) from request() to response();
-- wrk's own histogram mixes the two kinds, so done() sorts these instead and prints
--   RESULT rps=<flows/s> requests=<flows> expected=<flows> unexpected=N p50_ms=... (of a
--          flow: its two requests' times added) ... errors=N http_requests=N
--   PART name=auth|token rps=... requests=... expected=... unexpected=... p50_ms=... ...
-- then "STATUS <code> <count>" per unexpected status and a sample of the first unexpected one.

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  assert(#args == 8, "usage: -- AUTH_PATH TOKEN_PATH CLIENT_ID REDIRECT_URI STATE CHALLENGE VERIFIER COOKIE")
  local auth_path, client_id, redirect_uri, challenge
  auth_path, token_path, client_id, redirect_uri, state, challenge, verifier, cookie =
    args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8]
  auth_url = auth_path .. "?response_type=code&client_id=" .. urlencode(client_id)
    .. "&redirect_uri=" .. urlencode(redirect_uri) .. "&scope=openid&state=" .. urlencode(state)
    .. "&code_challenge=" .. urlencode(challenge) .. "&code_challenge_method=S256"
  token_tail = "&redirect_uri=" .. urlencode(redirect_uri) .. "&client_id=" .. urlencode(client_id)
    .. "&code_verifier=" .. urlencode(verifier)
  auth_headers = { ["Cookie"] = cookie }
  token_headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }
  code = nil        -- the code of step 1, waiting for step 2
  pending = nil     -- "auth" or "token": the request on the wire
  started = 0
  auth_ms, token_ms, flow_ms = {}, {}, {}
  n_auth, n_token, n_flows, n_unexpected, codes, sample = 0, 0, 0, 0, {}, ""
  bad_auth, bad_token = 0, 0
end

function request()
  started = now_ms()
  if code then
    pending = "token"
    local body = "grant_type=authorization_code&code=" .. code .. token_tail
    code = nil
    return wrk.format("POST", token_path, token_headers, body)
  end
  pending = "auth"
  return wrk.format("GET", auth_url, auth_headers)
end

local function unexpected(kind, status, detail)
  n_unexpected = n_unexpected + 1
  if kind == "auth" then bad_auth = bad_auth + 1 else bad_token = bad_token + 1 end
  local k = tostring(status)
  codes[k] = (codes[k] or 0) + 1
  if sample == "" then sample = kind .. " " .. k .. " " .. string.sub(detail or "", 1, 300) end
end

function response(status, headers, body)
  local took = now_ms() - started
  if pending == "auth" then
    n_auth = n_auth + 1
    auth_ms[#auth_ms + 1] = took
    local location = headers["Location"] or headers["location"] or ""
    local found = string.match(location, "[?&]code=([^&#]+)")
    if status == 302 and found and string.find(location, "state=" .. urlencode(state), 1, true) then
      code = found
    else
      unexpected("auth", status, location ~= "" and location or body)
    end
  elseif pending == "token" then
    n_token = n_token + 1
    token_ms[#token_ms + 1] = took
    if status == 200 and string.find(body or "", '"access_token"', 1, true) then
      n_flows = n_flows + 1
      flow_ms[#flow_ms + 1] = auth_ms[#auth_ms] + took
    else
      unexpected("token", status == 200 and "200-without-access-token" or status, body)
    end
  end
  pending = nil
end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.ceil(#sorted * p / 100)
  if i < 1 then i = 1 end
  return sorted[i]
end

local function gather(name)
  local all = {}
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get(name) or {}) do all[#all + 1] = v end
  end
  table.sort(all)
  return all
end

local function sum(name)
  local s = 0
  for _, t in ipairs(threads) do s = s + (t:get(name) or 0) end
  return s
end

local function stats(sorted)
  return string.format("p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
    percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99),
    sorted[#sorted] or 0)
end

function done(summary, latency, requests)
  local all_codes, first = {}, ""
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes") or {}) do all_codes[k] = (all_codes[k] or 0) + v end
    if first == "" then first = t:get("sample") or "" end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local flows, bad = sum("n_flows"), sum("n_unexpected")
  local n_a, n_t = sum("n_auth"), sum("n_token")
  local bad_a, bad_t = sum("bad_auth"), sum("bad_token")
  io.write(string.format(
    "RESULT rps=%.1f requests=%d expected=%d unexpected=%d expect_status=200 %s "
      .. "errors=%d timeout=%d duration_s=%.2f http_requests=%d\n",
    flows / secs, flows, flows, bad, stats(gather("flow_ms")),
    e.connect + e.read + e.write + e.timeout, e.timeout, secs, summary.requests))
  io.write(string.format("PART name=auth rps=%.1f requests=%d expected=%d unexpected=%d %s\n",
    n_a / secs, n_a, n_a - bad_a, bad_a, stats(gather("auth_ms"))))
  io.write(string.format("PART name=token rps=%.1f requests=%d expected=%d unexpected=%d %s\n",
    n_t / secs, n_t, n_t - bad_t, bad_t, stats(gather("token_ms"))))
  for k, v in pairs(all_codes) do io.write(string.format("STATUS %s %d\n", k, v)) end
  if first ~= "" then io.write("FIRST_UNEXPECTED " .. string.gsub(first, "[\r\n]", " ") .. "\n") end
end
