// Lua scripts of the Redis checkpoint store. Each runs atomically on the server: one call is one
// checkpoint (or one acquire, or one batch load). Keys are all passed in KEYS and share the task's
// hash tag, so the scripts are valid on Redis Cluster.

/**
 * acquire: KEYS[1] task hash. Bumps the epoch (fencing every older owner), resets the seq.
 * Returns {epoch, meta|nil}.
 */
export const ACQUIRE_LUA = `
local e = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'seq', '0')
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
 * commit: KEYS[1] task hash, KEYS[2] staging list, KEYS[3] versions hash, KEYS[4..] state keys
 * (staged entries first, then inline ones, in entry order). ARGV[1] epoch, ARGV[2] seq,
 * ARGV[3] meta, ARGV[4] '1' when chunks were staged, ARGV[6] the last seq of this epoch the
 * writer saw confirmed (a stored seq below it: Redis lost confirmed checkpoints, e.g. a failover
 * to a replica that lacked them; nothing is written), ARGV[5] the inline entries packed as one
 * MessagePack array of strings (state/packed-entries.ts) which unpacks to, per entry: version,
 * mode, then for modes 'm' (merge: HSET over the stored fields, for fixed-shape records) and 'r'
 * (replace: the hash is rewritten) the field count and field/value pairs; mode 'd' = tombstone.
 *
 * The versions hash (field = "<store>:<key>", value = version, suffixed "d" for a tombstone)
 * mirrors each key's `version` field so the stale check is one HMGET per chunk of keys, not one
 * read per key: per written key Redis runs a single HSET (plus DEL on replace/tombstone).
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
local VK = KEYS[3]
local from = #KEYS[1] - 3 -- KEYS[1] is '{tag}:task': the '<store>:<key>' suffix starts here
local written, skipped, k = 0, 0, 4
local STEP = 2000 -- keys per HMGET/HSET on the versions hash (Lua unpack limit is ~8000)
local function apply(args, a)
  local len = #args
  local ents = {}
  while a <= len do
    local mode = args[a + 1]
    local e = {key = KEYS[k], ver = args[a], mode = mode, nf = 0, first = a + 2}
    if mode ~= 'd' then e.nf = tonumber(args[a + 2]); e.first = a + 3 end
    ents[#ents + 1] = e
    k = k + 1
    a = e.first + 2 * e.nf
  end
  for c = 1, #ents, STEP do
    local last = math.min(c + STEP - 1, #ents)
    local names = {}
    for i = c, last do names[#names + 1] = string.sub(ents[i].key, from) end
    local stored = redis.call('HMGET', VK, unpack(names))
    local vs = {}
    for i = c, last do
      local e = ents[i]
      local s = stored[i - c + 1]
      local tomb = false
      local sv = nil
      if s then
        tomb = string.sub(s, -1) == 'd'
        sv = tonumber(tomb and string.sub(s, 1, -2) or s)
      end
      if sv ~= nil and sv >= tonumber(e.ver) then
        skipped = skipped + 1
      else
        local t = {'version', e.ver, 'epoch', ARGV[1]}
        if e.mode == 'd' then t[5] = 'deleted'; t[6] = '1' end
        for j = e.first, e.first + 2 * e.nf - 1 do t[#t + 1] = args[j] end
        if e.mode ~= 'm' or tomb then redis.call('DEL', e.key) end
        -- A wide hash (the allocator's active allocations) in slices: unpack stops near 8000 values.
        for f = 1, #t, 2 * STEP do redis.call('HSET', e.key, unpack(t, f, math.min(f + 2 * STEP - 1, #t))) end
        vs[#vs + 1] = names[i - c + 1]
        vs[#vs + 1] = e.mode == 'd' and (e.ver .. 'd') or e.ver
        written = written + 1
      end
    end
    if #vs > 0 then redis.call('HSET', VK, unpack(vs)) end
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
