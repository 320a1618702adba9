// The serialisation floor of the graph: per interaction, what the in-process run does on the wire
// with no agent work at all (decode the input, encode + decode the re-keyed ContentEvent, encode a
// changelog record). Prints events/s for one core.   npx tsx bench/serde-floor.ts [events]
import { Serde } from '../io/serde.js';
import type { ContentEvent, UserMindState } from '../schemas/types.js';
import { makeWorkload } from './workload.js';

const n = Number(process.argv[2] ?? 300_000);
const serde = Serde.local();
const w = makeWorkload({ users: 100_000, contents: 10_000, events: n });
const input = w.interactions.map((e) => serde.encode('UserInteraction', e));
const mind: UserMindState = {
  user_id: 'u1',
  exploitation: 0.7,
  curiosity: 0.5,
  fatigue: 0.2,
  satisfaction: 0.6,
  explore_probability: 0.1,
  exploration_protected: false,
  interest_breadth: 1,
  version: 1,
  updated_at: 1,
} as UserMindState;
const t0 = performance.now();
let bytes = 0;
for (let i = 0; i < n; i++) {
  const ev = serde.decode(input[i]).value as ContentEvent['interaction'] & object;
  const fwd: ContentEvent = {
    source: 1,
    source_offset: i,
    interaction: { ...ev, suspect_clicker: false },
    published: null,
    marker: null,
  } as ContentEvent;
  const b = serde.encode('ContentEvent', fwd);
  serde.decode(b);
  mind.user_id = (ev as { user_id: string }).user_id;
  bytes += serde.encode('UserMindState', mind).length + b.length;
}
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ events: n, seconds: s, eventsPerS: Math.round(n / s), bytes }));
