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
//! The sets' TTLs only ever rise (`extend`): processes may have different
//! leases, and a key's TTL never drops below the longest live lease (twice
//! it), so a process with short leases never makes another's slots vanish.
//!
//! The window rules are those of the in-process limiter (`limits/window.rs`),
//! ported line by line but for one thing: processes sharing a window may have
//! different quotas, so the window keeps the units used in it (`used`), not
//! what one quota leaves (`own`). There is one window per business and
//! operation whatever each caller's quota; a caller's own count is its cap
//! (its quota, or the server's stated limit when smaller) minus `used`.
//! `tests/tests/redis_limiter.rs` runs both against the same server answers.

/// What every script shares: the time, cleaning up expired leases, TTLs that
/// only rise, and the quota window (load, save, roll over, what is left).
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Raises the key's TTL to `ttl_ms`, never lowers it: another process's
-- longer leases live in the same key. (Not `PEXPIRE ... GT`: it treats a key
-- without a TTL, as one just made by ZADD, as never expiring.)
local function extend(key, ttl_ms)
  local current = redis.call('PTTL', key)
  if current == -2 then return end
  if current == -1 or current < ttl_ms then redis.call('PEXPIRE', key, ttl_ms) end
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

-- `used`: the units taken in this window, by every caller whatever its
-- quota (the in-process window keeps `own`, what its one quota leaves).
local NUMBERS = {'start', 'end', 'used', 'server', 'carried', 'lowest', 'until', 'over', 'limit', 'gen'}

local function load(key)
  local raw = redis.call('HGETALL', key)
  if #raw == 0 then return nil end
  local w = {}
  for i = 1, #raw, 2 do w[raw[i]] = tonumber(raw[i + 1]) end
  if w.used == nil then
    -- Saved by an earlier version (`own` left of `own_quota`).
    if w.own == nil or w.own_quota == nil then return nil end
    w.used = math.max(w.own_quota - w.own, 0)
  end
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

local function new_window(now, window_ms)
  return {start = now, ['end'] = now + window_ms, used = 0, carried = 0, over = 0, gen = 0}
end

-- The whole window for a caller with `quota`: it, or the server's stated
-- limit when smaller.
local function full(w, quota)
  if w.limit ~= nil then return math.min(w.limit, quota) end
  return quota
end

-- What the caller's own count leaves: its cap minus the units used.
local function own(w, quota)
  return math.max(full(w, quota) - w.used, 0)
end

-- What a caller with `quota` may still send in this window: the server's
-- view once it has one, capped by the own count only when the caller's
-- quota is the smaller.
local function remaining(w, quota)
  if w.server ~= nil and w.limit ~= nil and w.limit <= quota then return w.server end
  if w.server ~= nil then return math.min(w.server, own(w, quota)) end
  return own(w, quota)
end

-- Requests still in flight count as used (they may count in the server's
-- new window), and are carried: given back once the server's view arrives.
local function start_window(w, quota, in_flight)
  local f = full(w, quota)
  w.used = math.min(in_flight, f)
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

-- The window of the business and operation, shared by callers whatever
-- their quotas; a new one when none is stored.
local function window(key, now, window_ms)
  local w = load(key)
  if w == nil then return new_window(now, window_ms) end
  return w
end
"#;

/// KEYS: slots, queue, alive, flight, window, grants.
/// ARGV: token, max in flight, lease (ms; the sets' TTLs rise to twice it,
/// never fall), the caller's quota (-1: none; its cap on the shared window),
/// window (ms), how long a waiter keeps its place without asking again (ms).
/// Returns `{0, generation, sent at}` (go; generation -1 without a quota),
/// `{1, wait}` (no slot yet), `{2, wait}` (quota spent until then) or `{3}`
/// (the caller gave this token up already: CANCEL ran first).
pub(crate) const ACQUIRE: &str = r#"
local slots, queue, alive, flight, wkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
local max_in_flight = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local window_ms = tonumber(ARGV[5])
local patience = tonumber(ARGV[6])
if redis.call('HGET', KEYS[6], token) == 'cancelled' then return {3} end
local now = now_ms()
clean(now, slots, queue, alive, flight)

local w = nil
if quota >= 0 then
  w = window(wkey, now, window_ms)
  roll(w, now, quota, redis.call('ZCARD', flight), window_ms)
  if remaining(w, quota) <= 0 then
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
  extend(queue, patience * 2)
  extend(alive, patience * 2)
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
  w.used = w.used + 1
  if w.server ~= nil then w.server = math.max(w.server - 1, 0) end
  generation = w.gen
  save(wkey, w, window_ms * 2)
end
redis.call('ZADD', slots, now + lease, token)
redis.call('ZADD', flight, now + lease, token)
extend(slots, lease * 2)
extend(flight, lease * 2)
-- Which window the unit came from, so a cancel can give it back.
if generation >= 0 then
  redis.call('HSET', KEYS[6], token, generation)
  extend(KEYS[6], lease * 2)
end
return {0, generation, now}
"#;

/// What a caller gave up on is given back: a waiter leaves the queue, and
/// a slot taken for a token nobody holds (the script ran after the caller
/// stopped waiting for its answer) is freed with its quota unit.
/// KEYS: slots, queue, alive, flight, window, grants. ARGV: token.
/// Returns 1 if a slot was freed.
pub(crate) const CANCEL: &str = r#"
local slots, queue, alive, flight, wkey, grants = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local token = ARGV[1]
redis.call('ZREM', queue, token)
redis.call('ZREM', alive, token)
local held = redis.call('ZREM', slots, token)
redis.call('ZREM', flight, token)
local generation = redis.call('HGET', grants, token)
-- An acquire of this token still on its way (over another connection, say)
-- finds the mark and takes nothing; the mark lapses with the hash.
redis.call('HSET', grants, token, 'cancelled')
extend(grants, 60000)
if held == 1 and generation and generation ~= 'cancelled' then
  local w = load(wkey)
  if w ~= nil and w.gen == tonumber(generation) then
    w.used = math.max(w.used - 1, 0)
    if w.server ~= nil then w.server = w.server + 1 end
    local ttl = redis.call('PTTL', wkey)
    if ttl > 0 then save(wkey, w, ttl) end
  end
end
return held
"#;

/// KEYS: slots, queue, alive, flight, window, grants.
/// ARGV: token, the caller's quota (-1: none), sent (0/1), has rate-limit
/// headers (0/1), remaining (-1: unknown), until (s, -1: unknown), resets in
/// (ms, -1: unknown), limit (-1: unknown), ticket generation (-1: none),
/// ticket sent at (ms), margin (ms), window (ms).
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
redis.call('HDEL', KEYS[6], token)
clean(now, slots, queue, alive, flight)
if quota < 0 then return 0 end
local others = redis.call('ZCARD', flight)
local w = window(wkey, now, window_ms)

if not has_rate_limit then
  if not sent and ticket_gen >= 0 and ticket_gen == w.gen then
    w.used = math.max(w.used - 1, 0)
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
  -- The requests in flight are counted as used, not carried: they cap only
  -- a quota below the server's, whose view accounts for them anyway.
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
w.used = math.max(w.used - w.carried, 0)
w.carried = 0
if w['until'] ~= nil then w['until'] = math.max(w['until'], rl_until) else w['until'] = rl_until end
w['end'] = now + rl_resets_in + margin
save(wkey, w, window_ms * 2)
return 0
"#;

/// KEYS: slots, queue, alive, flight, window, grants (unused).
/// ARGV: the caller's quota, window (ms).
/// Returns `{remaining, resets in (ms), the whole quota (the caller's, or the
/// server's stated limit when smaller)}` of the shared window under the
/// caller's quota, or `{-1}` before the first request.
pub(crate) const PEEK: &str = r#"
local slots, queue, alive, flight, wkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local quota = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local now = now_ms()
clean(now, slots, queue, alive, flight)
local w = load(wkey)
if w == nil then return {-1} end
roll(w, now, quota, redis.call('ZCARD', flight), window_ms)
save(wkey, w, window_ms * 2)
return {remaining(w, quota), math.max(w['end'] - now, 0), full(w, quota)}
"#;

/// A script with the shared functions in front.
pub(crate) fn with_prelude(body: &str) -> String {
    format!("{PRELUDE}\n{body}")
}
