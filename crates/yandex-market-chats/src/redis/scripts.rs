//! The Lua scripts: each decision is one script, so two processes never both
//! take the last slot or the last unit. Time is Redis's own (`TIME`), never
//! a host's: hosts' clocks differ.
//!
//! Keys of one business share a hash tag (`{42}`), so they live in one slot
//! of a Redis Cluster too:
//! - `slots`: a sorted set, request token -> lease end (ms); a lease that
//!   ends is a slot freed, so a killed process frees its slots then.
//! - `queue`: a sorted set, waiting token -> arrival (ms), and `alive`,
//!   waiting token -> when it stops counting unless it asks again: the order
//!   in which waiters get slots, so no process starves.
//! - `<operation>:flight`: like `slots`, for one operation (its requests in
//!   flight, which the quota window rules need).
//! - `<operation>:window`: a hash, the quota window of one operation.
//!
//! The window rules are those of the in-process limiter (`limits/window.rs`),
//! ported line by line; `tests/tests/redis_limiter.rs` runs both against the
//! same server answers.

/// What every script shares: the time, cleaning up expired leases, and the
/// quota window (load, save, roll over, what is left).
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function clean(now, slots, queue, alive, flight)
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', flight, '-inf', now)
  local dead = redis.call('ZRANGEBYSCORE', alive, '-inf', now)
  for _, token in ipairs(dead) do
    redis.call('ZREM', queue, token)
  end
  redis.call('ZREMRANGEBYSCORE', alive, '-inf', now)
end

local NUMBERS = {'start', 'end', 'own', 'server', 'own_quota', 'carried', 'lowest', 'until', 'over', 'limit', 'gen'}

local function load(key)
  local raw = redis.call('HGETALL', key)
  if #raw == 0 then return nil end
  local w = {}
  for i = 1, #raw, 2 do w[raw[i]] = tonumber(raw[i + 1]) end
  return w
end

local function save(key, w, ttl_ms)
  redis.call('DEL', key)
  local args = {}
  for _, name in ipairs(NUMBERS) do
    if w[name] ~= nil then
      table.insert(args, name)
      table.insert(args, string.format('%.0f', w[name]))
    end
  end
  redis.call('HSET', key, unpack(args))
  redis.call('PEXPIRE', key, ttl_ms)
end

local function new_window(now, quota, window_ms)
  return {start = now, ['end'] = now + window_ms, own = quota, own_quota = quota, carried = 0, over = 0, gen = 0}
end

local function full(w, quota)
  if w.limit ~= nil then return math.min(w.limit, quota) end
  return quota
end

local function remaining(w)
  if w.server ~= nil and w.limit ~= nil and w.limit <= w.own_quota then return w.server end
  if w.server ~= nil then return math.min(w.server, w.own) end
  return w.own
end

local function start_window(w, quota, in_flight)
  local f = full(w, quota)
  w.own = math.max(f - in_flight, 0)
  w.carried = math.min(in_flight, f)
  w.server = nil
  w.lowest = nil
  w.gen = w.gen + 1
end

local function roll(w, now, quota, in_flight, window_ms)
  if now >= w['end'] then
    w.start = now
    w['end'] = now + window_ms
    start_window(w, quota, in_flight)
    if w['until'] ~= nil then w.over = 1 else w.over = 0 end
  end
end

-- The window for `quota`: a stored one made with another quota starts afresh.
local function window(key, now, quota, window_ms)
  local w = load(key)
  if w == nil or w.own_quota ~= quota then return new_window(now, quota, window_ms) end
  return w
end
"#;

/// KEYS: slots, queue, alive, flight, window.
/// ARGV: token, max in flight, lease (ms), quota (-1: none), window (ms),
/// how long a waiter keeps its place without asking again (ms).
/// Returns `{0, generation, sent at}` (go; generation -1 without a quota),
/// `{1, wait}` (no slot yet) or `{2, wait}` (quota spent until then).
pub(crate) const ACQUIRE: &str = r#"
local slots, queue, alive, flight, wkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
local max_in_flight = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local window_ms = tonumber(ARGV[5])
local patience = tonumber(ARGV[6])
local now = now_ms()
clean(now, slots, queue, alive, flight)

local w = nil
if quota >= 0 then
  w = window(wkey, now, quota, window_ms)
  roll(w, now, quota, redis.call('ZCARD', flight), window_ms)
  if remaining(w) <= 0 then
    -- Waiting for the quota holds nothing, not even a place in the queue.
    redis.call('ZREM', queue, token)
    redis.call('ZREM', alive, token)
    save(wkey, w, window_ms * 2)
    return {2, math.max(w['end'] - now, 0)}
  end
end

local free = max_in_flight - redis.call('ZCARD', slots)
local rank = redis.call('ZRANK', queue, token)
local ahead = redis.call('ZCARD', queue)
if rank then ahead = rank end
if free <= 0 or ahead >= free then
  -- First come, first served: the earliest waiters get the free slots.
  redis.call('ZADD', queue, 'NX', now, token)
  redis.call('ZADD', alive, now + patience, token)
  redis.call('PEXPIRE', queue, patience * 2)
  redis.call('PEXPIRE', alive, patience * 2)
  if w ~= nil then save(wkey, w, window_ms * 2) end
  local first = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')
  local wait = patience
  if first[2] ~= nil then wait = math.max(tonumber(first[2]) - now, 0) end
  return {1, wait}
end
redis.call('ZREM', queue, token)
redis.call('ZREM', alive, token)

local generation = -1
if w ~= nil then
  w.own = math.max(w.own - 1, 0)
  if w.server ~= nil then w.server = math.max(w.server - 1, 0) end
  generation = w.gen
  save(wkey, w, window_ms * 2)
end
redis.call('ZADD', slots, now + lease, token)
redis.call('ZADD', flight, now + lease, token)
redis.call('PEXPIRE', slots, lease * 2)
redis.call('PEXPIRE', flight, lease * 2)
return {0, generation, now}
"#;

/// KEYS: slots, queue, alive, flight, window.
/// ARGV: token, quota (-1: none), sent (0/1), has rate-limit headers (0/1),
/// remaining (-1: unknown), until (s, -1: unknown), resets in (ms, -1:
/// unknown), limit (-1: unknown), ticket generation (-1: none), ticket sent
/// at (ms), margin (ms), window (ms).
pub(crate) const RELEASE: &str = r#"
local slots, queue, alive, flight, wkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
local quota = tonumber(ARGV[2])
local sent = ARGV[3] == '1'
local has_rate_limit = ARGV[4] == '1'
local rl_remaining = tonumber(ARGV[5])
local rl_until = tonumber(ARGV[6])
local rl_resets_in = tonumber(ARGV[7])
local rl_limit = tonumber(ARGV[8])
local ticket_gen = tonumber(ARGV[9])
local ticket_at = tonumber(ARGV[10])
local margin = tonumber(ARGV[11])
local window_ms = tonumber(ARGV[12])
local now = now_ms()
redis.call('ZREM', slots, token)
redis.call('ZREM', flight, token)
clean(now, slots, queue, alive, flight)
if quota < 0 then return 0 end
local others = redis.call('ZCARD', flight)
local w = window(wkey, now, quota, window_ms)

if not has_rate_limit then
  if not sent and ticket_gen >= 0 and ticket_gen == w.gen then
    w.own = math.min(w.own + 1, quota)
    if w.server ~= nil then w.server = w.server + 1 end
    save(wkey, w, window_ms * 2)
  end
  return 0
end
if rl_remaining < 0 or rl_until < 0 or rl_resets_in < 0 then return 0 end

roll(w, now, quota, others, window_ms)
if rl_limit >= 0 then w.limit = rl_limit end
if w['until'] ~= nil then
  local d = rl_until - w['until']
  if d < -1 then save(wkey, w, window_ms * 2) return 0 end
  if d > 1 then
    if w.over ~= 1 then start_window(w, quota, others) end
    w.over = 0
  elseif w.over == 1 then
    save(wkey, w, window_ms * 2)
    return 0
  end
else
  -- The first window the server states: if it began after the guessed one,
  -- the own count restarts with it (a start within two seconds is ours).
  local started = now - (window_ms - math.min(rl_resets_in, window_ms))
  if started > w.start + 2000 then
    local this = 1
    if ticket_gen >= 0 and ticket_at < started then this = 0 end
    start_window(w, quota, others + this)
    w.carried = 0
    w.start = started
  end
end
local lowest = rl_remaining
if w.lowest ~= nil then lowest = math.min(w.lowest, rl_remaining) end
w.lowest = lowest
w.server = math.max(lowest - others, 0)
w.own = math.min(w.own + w.carried, full(w, quota))
w.carried = 0
if w['until'] ~= nil then w['until'] = math.max(w['until'], rl_until) else w['until'] = rl_until end
w['end'] = now + rl_resets_in + margin
save(wkey, w, window_ms * 2)
return 0
"#;

/// KEYS: slots, queue, alive, flight, window.
/// ARGV: quota, window (ms).
/// Returns `{remaining, resets in (ms), the whole quota (ours, or the
/// server's stated limit when smaller)}`, or `{-1}` before the first request.
pub(crate) const PEEK: &str = r#"
local slots, queue, alive, flight, wkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local quota = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local now = now_ms()
clean(now, slots, queue, alive, flight)
local w = load(wkey)
if w == nil or w.own_quota ~= quota then return {-1} end
roll(w, now, quota, redis.call('ZCARD', flight), window_ms)
save(wkey, w, window_ms * 2)
return {remaining(w), math.max(w['end'] - now, 0), full(w, quota)}
"#;

/// A script with the shared functions in front.
pub(crate) fn with_prelude(body: &str) -> String {
    format!("{PRELUDE}\n{body}")
}
