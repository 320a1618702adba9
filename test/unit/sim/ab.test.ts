import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignArm } from '../../../sim/ab.js';

const ids = Array.from({ length: 20_000 }, (_, i) => `u${String(i).padStart(6, '0')}`);

test('A/B assignment is stable: same user, salt and weights give the same arm', () => {
  const a = ids.map((id) => assignArm(id, 'exp-1', [1, 1]));
  const b = ids.map((id) => assignArm(id, 'exp-1', [1, 1]));
  assert.deepEqual(a, b);
});

test('A/B assignment is balanced for equal weights and follows unequal weights', () => {
  const half = ids.filter((id) => assignArm(id, 'exp-1', [1, 1]) === 1).length / ids.length;
  assert.ok(Math.abs(half - 0.5) < 0.02, `share in arm 1 = ${half}`);
  const tenth = ids.filter((id) => assignArm(id, 'exp-1', [9, 1]) === 1).length / ids.length;
  assert.ok(Math.abs(tenth - 0.1) < 0.015, `share in arm 1 = ${tenth}`);
  const thirds = [0, 1, 2].map(
    (k) => ids.filter((id) => assignArm(id, 'exp-3', [1, 1, 1]) === k).length / ids.length,
  );
  for (const s of thirds) assert.ok(Math.abs(s - 1 / 3) < 0.02, `thirds ${thirds}`);
});

test('A/B assignment depends on the salt (independent experiments re-shuffle users)', () => {
  const a = ids.map((id) => assignArm(id, 'exp-1', [1, 1]));
  const b = ids.map((id) => assignArm(id, 'exp-2', [1, 1]));
  const same = a.filter((x, i) => x === b[i]).length / ids.length;
  assert.ok(same > 0.45 && same < 0.55, `agreement ${same}`);
});
