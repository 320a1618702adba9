// Lua scripts of the Redis checkpoint store. Each runs atomically on the server: one call is one
// checkpoint (or one acquire, or one batch load). Keys are all passed in KEYS and share the task's
// hash tag, so the scripts are valid on Redis Cluster.
import { EXPIRY_FIELD } from './store.js';

/**
 * acquire: KEYS[1] task hash, KEYS[2] the task's versions hash of earlier releases (dropped: the
 * stale check reads each key's own `version` now; UNLINK frees a large one off the main thread).
 * Bumps the epoch (fencing every older owner), resets the seq. Returns {epoch, meta|nil}.
 */
export const ACQUIRE_LUA = `
local e = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'seq', '0')
redis.call('UNLINK', KEYS[2])
return {e, redis.call('HGET', KEYS[1], 'meta')}
`;

/**
 * load: KEYS[1] task hash, KEYS[2..] state keys. Returns {epoch, seq, rows}: the task's stored
 * epoch and seq (0 when absent), so the caller can tell whether Redis still holds what it
 * confirmed, and one HGETALL array per state key (empty when absent).
 */
export const LOAD_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
local out = {}
for i = 2, #KEYS do out[i - 1] = redis.call('HGETALL', KEYS[i]) end
return {tonumber(cur[1]) or 0, tonumber(cur[2]) or 0, out}
`;

/**
 * stage (large commits only): KEYS[1] task hash, KEYS[2] staging list; ARGV[1] epoch, ARGV[2]
 * packed entries (a MessagePack array of strings, state/packed-entries.ts). Appends the chunk as
 * it came; the final commit applies all chunks and the metadata atomically, so a crash between
 * chunks exposes nothing (the list expires).
 */
export const STAGE_LUA = `
local ce = tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0
if tonumber(ARGV[1]) ~= ce then return {-1, ce} end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], 600000)
return {0, ce}
`;

/**
 * commit: KEYS[1] task hash, KEYS[2] staging list, KEYS[3..] state keys (staged entries first,
 * then inline ones, in entry order). ARGV[1] epoch, ARGV[2] seq, ARGV[3] meta, ARGV[4] '1' when
 * chunks were staged, ARGV[5] the inline entries packed as one MessagePack array of strings
 * (state/packed-entries.ts) which unpacks to, per entry: version, mode, then for modes 'm'
 * (merge: HSET over the stored fields, for fixed-shape records) and 'r' (replace: the hash is
 * rewritten) the field count and field/value pairs; mode 'd' = tombstone. ARGV[6] the last seq
 * of this epoch the writer saw confirmed (a stored seq below it: Redis lost confirmed
 * checkpoints, e.g. a failover to a replica that lacked them; nothing is written). ARGV[7]
 * expiry per store, space-separated "<store> <ms>" pairs; ARGV[8] the writer's wall-clock day.
 *
 * The stale check reads the key's own `version` (and `deleted`): a key that expired, or never
 * existed, takes any version, so nothing besides the keys themselves needs bounding. A written
 * key of a store with expiry ms > 0 gets PEXPIRE ms when its `_expiry` field (day/ms of the last
 * PEXPIRE) is not today's: once a day per key, not at every write of a busy key; with ms = 0 a
 * TTL set earlier is removed; keys of stores not listed get none. Per written key Redis runs
 * HMGET and HSET (plus DEL on replace/tombstone, plus PEXPIRE at most daily).
 * Returns {written, skipped} | {-1, storedEpoch} (fenced, or lost when below ARGV[1]) |
 * {-2, storedSeq} (duplicate seq) | {-3, storedSeq} (Redis is behind ARGV[6]).
 */
export const COMMIT_LUA = `
local epoch = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
local ce = tonumber(cur[1]) or 0
if epoch ~= ce then return {-1, ce} end
local cs = tonumber(cur[2]) or 0
if tonumber(ARGV[2]) <= cs then return {-2, cs} end
if cs < (tonumber(ARGV[6]) or 0) then return {-3, cs} end
local ttls = {}
for store, ms in string.gmatch(ARGV[7] or '', '(%S+) (%d+)') do ttls[store] = ms end
local from = #KEYS[1] - 3 -- KEYS[1] is '{tag}:task': the '<store>:<key>' suffix starts here
local written, skipped, k = 0, 0, 3
local STEP = 2000 -- field pairs per HSET (Lua unpack limit is ~8000)
local function apply(args, a)
  local len = #args
  while a <= len do
    local key, ver, mode = KEYS[k], args[a], args[a + 1]
    local nf, first = 0, a + 2
    if mode ~= 'd' then nf = tonumber(args[a + 2]); first = a + 3 end
    k = k + 1
    a = first + 2 * nf
    local stored = redis.call('HMGET', key, 'version', 'deleted', '${EXPIRY_FIELD}')
    local sv = tonumber(stored[1])
    if sv ~= nil and sv >= tonumber(ver) then
      skipped = skipped + 1
    else
      local t = {'version', ver, 'epoch', ARGV[1]}
      if mode == 'd' then t[5] = 'deleted'; t[6] = '1' end
      for j = first, first + 2 * nf - 1 do t[#t + 1] = args[j] end
      local rewrite = mode ~= 'm' or stored[2]
      if rewrite then redis.call('DEL', key) end
      local ms = ttls[string.match(string.sub(key, from), '^[^:]*')]
      local mark = ms and ms ~= '0' and (ARGV[8] .. '/' .. ms)
      if mark and (rewrite or stored[3] ~= mark) then t[#t + 1] = '${EXPIRY_FIELD}'; t[#t + 1] = mark else mark = nil end
      -- A wide hash (the allocator's active allocations) in slices: unpack stops near 8000 values.
      for f = 1, #t, 2 * STEP do redis.call('HSET', key, unpack(t, f, math.min(f + 2 * STEP - 1, #t))) end
      if mark then
        redis.call('PEXPIRE', key, ms)
      elseif ms == '0' and stored[3] and not rewrite then
        redis.call('HDEL', key, '${EXPIRY_FIELD}')
        redis.call('PERSIST', key)
      end
      written = written + 1
    end
  end
end
if ARGV[4] == '1' then
  for _, chunk in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do apply(cmsgpack.unpack(chunk), 1) end
  redis.call('DEL', KEYS[2])
end
apply(cmsgpack.unpack(ARGV[5]), 1)
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'meta', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'checkpoints', 1)
return {written, skipped}
`;
