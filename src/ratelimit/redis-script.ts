/**
 * The Redis side of the limiter: one script checks every limit of one request atomically, with
 * the same arithmetic as algorithms.ts (see there for the semantics of each algorithm).
 *
 * Why a script: read-decide-write must be atomic across processes, and a single EVALSHA is one
 * round trip. Time comes from Redis `TIME` so hosts with skewed clocks still agree. Each touched
 * hash gets a PEXPIRE for as long as its state matters; after that an absent key behaves
 * exactly like the expired state, so Redis memory tracks active clients only.
 *
 * KEYS[i]  state hash for limit i (fields t, a, b, c as in LimitState)
 * ARGV     5 per limit: algorithm code (t|s|f), requests, windowMs, capacity, blocking (1|0)
 * Returns  5 integers per limit: allowed (1|0), limit, remaining, resetMs, retryAfterMs
 */
export const RATE_LIMIT_LUA = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local EPS = 1e-9
local function ceilms(x) return math.ceil(x - 1e-6) end
local n = #KEYS
local st, pol, res = {}, {}, {}
local admitted = true

local function describe(p, s)
  local W, L = p.w, p.r
  if p.alg == 't' then
    local remaining = math.max(0, math.floor(s.a + EPS))
    local retry = 0
    if remaining < 1 then retry = math.max(1, ceilms((1 - s.a) * W / L)) end
    return { remaining >= 1, p.cap, remaining, math.max(0, ceilms((p.cap - s.a) * W / L)), retry }
  elseif p.alg == 'f' then
    local remaining = math.max(0, L - s.b)
    local reset = math.max(1, ceilms((s.a + 1) * W - s.t))
    local retry = 0
    if remaining < 1 then retry = reset end
    return { remaining >= 1, L, remaining, reset, retry }
  else
    local elapsed = s.t - s.a * W
    local est = s.c * (W - elapsed) / W + s.b
    local remaining = math.max(0, math.floor(L - est + EPS))
    local reset = 0
    if s.b > 0 then reset = ceilms(2 * W - elapsed) elseif s.c > 0 then reset = ceilms(W - elapsed) end
    local retry = 0
    if remaining < 1 then
      local wait = W - elapsed
      if s.b + 1 <= L then
        if s.c > 0 then wait = W - (L - 1 - s.b) * W / s.c - elapsed end
      else
        wait = wait + math.max(0, W - (L - 1) * W / s.b)
      end
      retry = math.max(1, ceilms(wait))
    end
    return { remaining >= 1, L, remaining, reset, retry }
  end
end

for i = 1, n do
  local o = (i - 1) * 5
  local p = { alg = ARGV[o + 1], r = tonumber(ARGV[o + 2]), w = tonumber(ARGV[o + 3]),
              cap = tonumber(ARGV[o + 4]), blocking = ARGV[o + 5] == '1' }
  local h = redis.call('HMGET', KEYS[i], 't', 'a', 'b', 'c')
  local s
  if h[1] then
    s = { t = tonumber(h[1]), a = tonumber(h[2]), b = tonumber(h[3]), c = tonumber(h[4]) }
  elseif p.alg == 't' then
    s = { t = now, a = p.cap, b = 0, c = 0 }
  else
    s = { t = now, a = math.floor(now / p.w), b = 0, c = 0 }
  end
  if now > s.t then
    if p.alg == 't' then
      s.a = math.min(p.cap, s.a + (now - s.t) * p.r / p.w)
    else
      local w = math.floor(now / p.w)
      if w ~= s.a then
        if p.alg == 's' and w == s.a + 1 then s.c = s.b else s.c = 0 end
        s.b = 0
        s.a = w
      end
    end
    s.t = now
  end
  local d = describe(p, s)
  st[i], pol[i], res[i] = s, p, d
  if not d[1] and p.blocking then admitted = false end
end

local out = {}
for i = 1, n do
  local d = res[i]
  if admitted and d[1] then
    local p, s = pol[i], st[i]
    if p.alg == 't' then s.a = s.a - 1 else s.b = s.b + 1 end
    d = describe(p, s)
    d[1] = true
    d[5] = 0
    local ttl
    if p.alg == 't' then ttl = ceilms((p.cap - s.a) * p.w / p.r)
    elseif p.alg == 'f' then ttl = ceilms((s.a + 1) * p.w - s.t)
    else ttl = ceilms(2 * p.w - (s.t - s.a * p.w)) end
    redis.call('HSET', KEYS[i], 't', string.format('%.17g', s.t), 'a', string.format('%.17g', s.a), 'b', s.b, 'c', s.c)
    redis.call('PEXPIRE', KEYS[i], math.max(1, ttl) + 1)
  end
  local o = (i - 1) * 5
  out[o + 1] = d[1] and 1 or 0
  out[o + 2] = d[2]
  out[o + 3] = d[3]
  out[o + 4] = d[4]
  out[o + 5] = d[5]
end
return out
`;
