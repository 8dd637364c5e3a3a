/**
 * The Lua scripts behind RedisStore. Every mutation of the store is one script: atomic,
 * and recorded in the change log at exactly one revision, so a list (one script too)
 * plus a watch from its revision can miss nothing.
 *
 * Layout, all under the hash tag `{vx}` (one cluster slot; Redis Cluster is not
 * supported, but nothing here would have to move):
 *   {vx}:rev         INCR counter, the store revision
 *   {vx}:epoch       random, set once per history (SET NX): a FLUSHALL or a lost data set
 *                    makes it vanish or change, which is how watchers notice
 *   {vx}:k:<key>     HASH v (value), c (create revision), m (mod revision), n (version),
 *                    l (lease id, '' for none)
 *   {vx}:idx         ZSET of every key at score 0: the lexicographic (byte) index for prefixes
 *   {vx}:log         STREAM, the change log: entry <rev>-<n> is the n-th key changed at
 *                    revision rev (a deletePrefix is one revision with several entries)
 *   {vx}:compacted   the highest revision the log may no longer hold (trimmed)
 *   {vx}:leases      ZSET lease id -> expiry, in ms of the server's clock
 *   {vx}:lk:<lease>  SET of the keys bound to a lease
 *   {vx}:leaseseq    INCR counter, lease ids
 *   {vx}:op:<id>     the result of an applied mutation, kept about a minute (see below)
 *
 * Log entry fields: t (p put, d delete), k (key), o (the mutation's random op id), for
 * puts v c n l (the new record; its mod revision is the entry's revision), pv pc pm pn pl
 * (the previous record: for updates and every delete), r (why a lease deleted the key).
 *
 * Why each mutation carries an op id: ioredis resends a command that was in flight when
 * the connection dropped. If Redis had executed it (and fsynced it) just before dying,
 * a second execution would write it twice: two revisions for one put, or a create that
 * reports losing to itself. A mutation finding its op id already recorded returns the
 * recorded result instead.
 *
 * Invariants the watch relies on: every INCR of {vx}:rev is followed by an XADD at that
 * revision, so revisions in the log are dense and a reader can tell a hole (trimmed or
 * lost history) from a quiet store; and the first XADD comes before any data is
 * written, because a failing script is not rolled back (XADD refuses an id at or below
 * the stream's top, e.g. if someone reset {vx}:rev by hand).
 *
 * `#!lua` (Redis 7) makes Redis refuse a whole script up front under OOM instead of
 * failing half-way; `flags=no-writes` scripts may run on replicas. TIME in a writing
 * script is fine: Redis 7 replicates scripts by their effects.
 */
import type { Redis } from 'ioredis';

/** The hash tag every key of the store starts with. */
export const NS = '{vx}:';
export const LOG_KEY = `${NS}log`;
export const COMPACTED_KEY = `${NS}compacted`;

/** The HASH holding a key's record. */
export function recordKey(key: string): string {
  return `${NS}k:${key}`;
}

/** Helpers every script starts with. */
const LIB = `
local P = '${NS}'
local REV, LOG, IDX, LEASES = P .. 'rev', P .. 'log', P .. 'idx', P .. 'leases'

-- Integers as decimal strings (tostring would print 1e+15).
local function int(n) return string.format('%d', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The record of a key as {v, c, m, n, l}, or nil when absent.
local function read(key)
  local h = redis.call('HMGET', P .. 'k:' .. key, 'v', 'c', 'm', 'n', 'l')
  if h[2] then return h end
  return nil
end

local function record_reply(h)
  return {0, h[1], h[2], h[3], h[4], h[5] or ''}
end

-- The lexicographic range of every string starting with prefix (Redis compares bytes).
local function prefix_range(prefix)
  if prefix == '' then return '-', '+' end
  local i = #prefix
  while i > 0 and prefix:byte(i) == 255 do i = i - 1 end
  if i == 0 then return '[' .. prefix, '+' end
  return '[' .. prefix, '(' .. prefix:sub(1, i - 1) .. string.char(prefix:byte(i) + 1)
end

-- A lease past its expiry is gone even before a reaper deletes its keys.
local function lease_alive(lease)
  local exp = redis.call('ZSCORE', LEASES, lease)
  return exp and tonumber(exp) > now_ms()
end

local function lease_lost(lease)
  return redis.error_reply('VXLEASE lease ' .. lease .. ' does not exist (expired or revoked)')
end

-- A mutation already applied under this op id: its result again, nothing written.
local function replay(op)
  local done = redis.call('GET', P .. 'op:' .. op)
  if not done then return nil end
  local rev, extra = string.match(done, '^(%d+) (%d+)$')
  return {1, tonumber(rev), tonumber(extra)}
end

local function applied(op, ttl, rev, extra)
  redis.call('SET', P .. 'op:' .. op, int(rev) .. ' ' .. int(extra), 'PX', ttl)
  return {1, rev, extra}
end

local function add_prev(e, prev)
  local f = {'pv', 'pc', 'pm', 'pn', 'pl'}
  for i = 1, 5 do
    e[#e + 1] = f[i]
    e[#e + 1] = prev[i] or ''
  end
end

-- Write key at a new revision; prev is its current record or nil. Returns the revision.
local function put(key, value, lease, prev, op)
  local rev = redis.call('INCR', REV)
  local c, n = rev, 1
  if prev then c, n = tonumber(prev[2]), tonumber(prev[4]) + 1 end
  local e = {'t', 'p', 'k', key, 'o', op, 'v', value, 'c', int(c), 'n', int(n), 'l', lease}
  if prev then add_prev(e, prev) end
  redis.call('XADD', LOG, int(rev) .. '-0', unpack(e))
  redis.call('HSET', P .. 'k:' .. key, 'v', value, 'c', int(c), 'm', int(rev), 'n', int(n), 'l', lease)
  redis.call('ZADD', IDX, 0, key)
  -- The key's lease is whatever the last write said (etcd semantics).
  local old = prev and prev[5] or ''
  if old ~= lease then
    if old ~= '' then redis.call('SREM', P .. 'lk:' .. old, key) end
    if lease ~= '' then redis.call('SADD', P .. 'lk:' .. lease, key) end
  end
  return rev
end

-- Delete a present key (prev: its record) as entry seq of revision rev.
local function del(key, prev, rev, seq, op, reason)
  local e = {'t', 'd', 'k', key, 'o', op}
  add_prev(e, prev)
  if reason then
    e[#e + 1] = 'r'
    e[#e + 1] = reason
  end
  redis.call('XADD', LOG, int(rev) .. '-' .. int(seq), unpack(e))
  redis.call('DEL', P .. 'k:' .. key)
  redis.call('ZREM', IDX, key)
  local lease = prev[5] or ''
  if lease ~= '' then redis.call('SREM', P .. 'lk:' .. lease, key) end
end

-- Forget a lease and delete its keys at one new revision (as etcd does; none when it
-- has no keys). Returns the number of keys deleted.
local function drop_lease(lease, op, reason)
  local bound = {}
  for _, key in ipairs(redis.call('SMEMBERS', P .. 'lk:' .. lease)) do
    local prev = read(key)
    if prev and prev[5] == lease then bound[#bound + 1] = {key, prev} end
  end
  if #bound > 0 then
    local rev = redis.call('INCR', REV)
    for i, b in ipairs(bound) do del(b[1], b[2], rev, i - 1, op, reason) end
  end
  redis.call('ZREM', LEASES, lease)
  redis.call('DEL', P .. 'lk:' .. lease)
  return #bound
end
`;

function script(body: string, readOnly = false): string {
  return `#!lua${readOnly ? ' flags=no-writes' : ''}\n${LIB}\n${body}`;
}

/**
 * Mutations take ARGV[1] = op id and ARGV[2] = how long to remember its result (ms),
 * and answer {1, revision, extra} when applied (also when replayed). A write naming a
 * lease the server does not have fails with a `VXLEASE` error and writes nothing.
 */
export const SCRIPTS = {
  /** ARGV: op, ttl, key, value, lease (''). → {1, rev, 0} */
  vxPut: script(`
local op, ttl, key, value, lease = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local again = replay(op)
if again then return again end
if lease ~= '' and not lease_alive(lease) then return lease_lost(lease) end
return applied(op, ttl, put(key, value, lease, read(key), op), 0)
`),

  /** ARGV: op, ttl, key, value, lease. → {1, rev, 0} created, or {0, v, c, m, n, l} the holder's record */
  vxCreate: script(`
local op, ttl, key, value, lease = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local again = replay(op)
if again then return again end
local prev = read(key)
if prev then return record_reply(prev) end
if lease ~= '' and not lease_alive(lease) then return lease_lost(lease) end
return applied(op, ttl, put(key, value, lease, nil, op), 0)
`),

  /** ARGV: op, ttl, key, value, lease, expected mod revision (0: absent). → {1, rev, 0}, or {0} / {0, v, c, m, n, l} */
  vxCompareAndPut: script(`
local op, ttl, key, value, lease = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local again = replay(op)
if again then return again end
local prev = read(key)
local mod = prev and tonumber(prev[3]) or 0
if mod ~= tonumber(ARGV[6]) then
  if prev then return record_reply(prev) end
  return {0}
end
if lease ~= '' and not lease_alive(lease) then return lease_lost(lease) end
return applied(op, ttl, put(key, value, lease, prev, op), 0)
`),

  /** ARGV: op, ttl, key, expected mod revision ('' = any). → {1, rev, 1} deleted, or {0} */
  vxDelete: script(`
local op, ttl, key, expected = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local again = replay(op)
if again then return again end
local prev = read(key)
if not prev or (expected ~= '' and tonumber(prev[3]) ~= tonumber(expected)) then return {0} end
local rev = redis.call('INCR', REV)
del(key, prev, rev, 0, op, nil)
return applied(op, ttl, rev, 1)
`),

  /** ARGV: op, ttl, prefix (not empty). → {1, rev, count}; {1, 0, 0} when nothing matched (no revision) */
  vxDeletePrefix: script(`
local op, ttl = ARGV[1], ARGV[2]
local again = replay(op)
if again then return again end
local lo, hi = prefix_range(ARGV[3])
local present = {}
for _, key in ipairs(redis.call('ZRANGEBYLEX', IDX, lo, hi)) do
  local prev = read(key)
  if prev then present[#present + 1] = {key, prev} end
end
if #present == 0 then return {1, 0, 0} end
local rev = redis.call('INCR', REV)
for i, p in ipairs(present) do del(p[1], p[2], rev, i - 1, op, nil) end
return applied(op, ttl, rev, #present)
`),

  /** ARGV: op, ttl, lease TTL in ms. → {1, lease id, 0} */
  vxGrant: script(`
local op, ttl = ARGV[1], ARGV[2]
local again = replay(op)
if again then return again end
local id = redis.call('INCR', P .. 'leaseseq')
redis.call('ZADD', LEASES, now_ms() + tonumber(ARGV[3]), int(id))
return applied(op, ttl, id, 0)
`),

  /** ARGV: lease, TTL in ms. → 1 renewed, 0 the lease is gone (expired, revoked, or never was) */
  vxKeepAlive: script(`
local exp = redis.call('ZSCORE', LEASES, ARGV[1])
local now = now_ms()
if not exp or tonumber(exp) <= now then return 0 end
redis.call('ZADD', LEASES, 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
`),

  /** ARGV: op (the log token), lease. Idempotent. → number of keys deleted */
  vxRevoke: script(`
return drop_lease(ARGV[2], ARGV[1], 'lease revoked')
`),

  /**
   * The reaper, run by every client: drop up to ARGV[3] expired leases (their keys at
   * one revision each), then trim the log to the last ARGV[2] revisions. Idempotent.
   * ARGV: token, history revisions, limit. → {leases dropped, keys deleted}
   */
  vxReap: script(`
local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[3]))
local deleted = 0
for _, lease in ipairs(expired) do deleted = deleted + drop_lease(lease, ARGV[1], 'lease expired') end
local rev = tonumber(redis.call('GET', REV) or '0')
local keep = tonumber(ARGV[2])
local compacted = tonumber(redis.call('GET', P .. 'compacted') or '0')
if rev - keep > compacted then
  -- '~' trims whole stream nodes only: the log may keep more, never less.
  redis.call('XTRIM', LOG, 'MINID', '~', int(rev - keep + 1) .. '-0')
  redis.call('SET', P .. 'compacted', int(rev - keep))
end
return {#expired, deleted}
`),

  /**
   * ARGV: prefix, after ('' for the start of the prefix; the caller passes it only when it
   * sorts at or after the prefix), limit (0 for all).
   * → {rev, more (1 keys were left out, else 0), key, v, c, m, n, l, key, …} sorted by key: one snapshot
   */
  vxList: script(`
local lo, hi = prefix_range(ARGV[1])
if ARGV[2] ~= '' then lo = '(' .. ARGV[2] end
local limit = tonumber(ARGV[3])
local out = {tonumber(redis.call('GET', REV) or '0'), 0}
local n = 0
-- Append the live keys among these; true once a key beyond the limit was seen.
local function take(keys)
  for _, key in ipairs(keys) do
    local h = read(key)
    if h then
      if limit > 0 and n == limit then
        out[2] = 1
        return true
      end
      n = n + 1
      out[#out + 1] = key
      for i = 1, 5 do out[#out + 1] = h[i] or '' end
    end
  end
  return false
end
if limit == 0 then
  take(redis.call('ZRANGEBYLEX', IDX, lo, hi))
else
  -- in chunks: a key of an expired lease that no reaper deleted yet is skipped, not counted
  local offset = 0
  while true do
    local keys = redis.call('ZRANGEBYLEX', IDX, lo, hi, 'LIMIT', offset, limit + 1)
    if take(keys) or #keys < limit + 1 then break end
    offset = offset + #keys
  end
end
return out
`, true),

  /**
   * Is this still the history a reader has been following? ARGV: the id of the last
   * log entry it read ('' for none), that entry's op id.
   * → {epoch ('' when missing), rev, 1 the entry is there and the same | 0 it is not | 2 not asked}
   */
  vxCheck: script(`
local epoch = redis.call('GET', P .. 'epoch') or ''
local rev = tonumber(redis.call('GET', REV) or '0')
local same = 2
if ARGV[1] ~= '' then
  same = 0
  local e = redis.call('XRANGE', LOG, ARGV[1], ARGV[1])[1]
  if e then
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'o' then
        if f[i + 1] == ARGV[2] then same = 1 end
        break
      end
    end
  end
end
return {epoch, rev, same}
`, true),

  /**
   * Start a history if there is none: set the epoch (ARGV[1]) if missing. ARGV[2] is the
   * highest revision this client has seen. If the history it saw is gone (ARGV[3] = '1':
   * the caller knows; or the epoch had to be set, or the revision is below what was
   * seen), the revision is raised above ARGV[2], so that no revision number it knows
   * comes back with another write behind it. A revision so skipped has no log entry:
   * readers take the hole for what it is, lost history, and re-list. → {epoch, rev}
   */
  vxInit: script(`
local fresh = redis.call('SET', P .. 'epoch', ARGV[1], 'NX')
local rev = tonumber(redis.call('GET', REV) or '0')
local floor = tonumber(ARGV[2])
local lost = ARGV[3] == '1' or rev < floor or (fresh and floor > 0)
if lost and rev <= floor then
  rev = floor + 1
  redis.call('SET', REV, int(rev))
end
return {redis.call('GET', P .. 'epoch'), rev}
`),
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type ScriptArg = string | number;

/** A connection or pipeline with the scripts defined (see {@link defineScripts}). */
type WithScripts<T> = { [K in ScriptName]: (...args: ScriptArg[]) => T };

/**
 * Define every script on a connection: ioredis sends EVAL the first time on each
 * socket, EVALSHA after, and falls back to EVAL on NOSCRIPT (a restarted server).
 */
export function defineScripts(conn: Redis): void {
  for (const [name, lua] of Object.entries(SCRIPTS)) conn.defineCommand(name, { numberOfKeys: 0, lua });
}

/** Run a script on a connection prepared by defineScripts. */
export function runScript(conn: Redis, name: ScriptName, args: ScriptArg[]): Promise<unknown> {
  return (conn as unknown as WithScripts<Promise<unknown>>)[name](...args);
}

/** Queue a script on a pipeline of a connection prepared by defineScripts. */
export function queueScript<P>(pipeline: P, name: ScriptName, args: ScriptArg[]): void {
  (pipeline as unknown as WithScripts<P>)[name](...args);
}
