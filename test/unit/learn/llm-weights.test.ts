import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../core/metrics.js';
import { LlmRewardWeightsProvider, buildPrompt, chatCompletionsUrl } from '../../../learn/llm-weights.js';
import type { BusinessObjectives } from '../../../schemas/types.js';

const OBJECTIVES: BusinessObjectives = {
  objective_id: 'q4',
  effective_from: 0,
  gmv_target: 3_490_000,
  retention_target: 0.67,
  diversity_target: 0.62,
  heating_budget_pool: 30_000,
  heating_cap_ratio: 0.2,
};
const INITIAL = { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 };
const PWNED_FILE = `/tmp/thermostat-llm-pwned-${process.pid}`;

// What the fake endpoint answers with: message content, or 'hang', or a raw HTTP body/status.
type Reply =
  | { content: string }
  | { hang: true }
  | { status: number; body: string }
  | { stream: number; declared: boolean };
/** Bytes the streaming reply managed to write before the client went away. */
let streamed = 0;
let reply: Reply = { content: '{}' };
const requests: { auth?: string; body: { model: string; messages: { role: string; content: string }[] } }[] =
  [];
let server: Server;
let url: string;
const hanging: ServerResponse[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      requests.push({ auth: req.headers.authorization, body: JSON.parse(data) });
      if ('hang' in reply) {
        hanging.push(res);
        return;
      }
      if ('stream' in reply) {
        const total = reply.stream;
        res.writeHead(200, {
          'content-type': 'application/json',
          ...(reply.declared ? { 'content-length': String(total) } : {}),
        });
        streamed = 0;
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = (): void => {
          while (streamed < total && !res.destroyed) {
            streamed += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        pump();
        return;
      }
      if ('status' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: reply.content } }],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

after(async () => {
  for (const r of hanging) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function provider(extra: Partial<ConstructorParameters<typeof LlmRewardWeightsProvider>[0]> = {}) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const warnings: { reason?: string }[] = [];
  const logger = {
    warn: (o: { reason?: string }) => warnings.push(o),
    debug: () => {},
    info: () => {},
  } as never;
  const p = new LlmRewardWeightsProvider(
    {
      url,
      model: 'test-model',
      apiKey: 'sk-test',
      timeoutMs: 300,
      failureThreshold: 3,
      resetTimeoutMs: 200,
      ...extra,
    },
    { initial: INITIAL, metrics, logger },
  );
  const rejectedMetric = async () =>
    (await metrics.rewardWeightsRejected.get()).values.find((v) => v.labels.source === 'llm')?.value ?? 0;
  return { p, rejectedMetric, warnings };
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

test('valid JSON is used; the request carries the model, the key and the objectives', async () => {
  const { p, rejectedMetric } = provider();
  reply = { content: '{"user_satisfaction": 0.5, "platform_revenue": 0.2, "long_term": 0.3}' };
  requests.length = 0;
  const r = await p.refresh(OBJECTIVES);
  assert.equal(r.ok, true);
  assert.deepEqual(p.weights, { user_satisfaction: 0.5, platform_revenue: 0.2, long_term: 0.3 });
  assert.equal(requests.length, 1);
  assert.equal(requests[0].auth, 'Bearer sk-test');
  assert.equal(requests[0].body.model, 'test-model');
  const user = requests[0].body.messages.find((m) => m.role === 'user')!.content;
  assert.match(user, /"gmv_target":3490000/);
  assert.match(user, /"retention_target":0.67/);
  assert.match(user, /"heating_budget_pool":30000/);
  assert.equal(await rejectedMetric(), 0);
  p.stop();
});

test('prose around the JSON is accepted (JSON extracted, never evaluated)', async () => {
  const { p } = provider();
  reply = {
    content:
      'Sure! Given the retention target I suggest:\n```json\n{"user_satisfaction": 0.3, "platform_revenue": 0.2, "long_term": 0.5}\n```\nHope this helps.',
  };
  const r = await p.refresh(OBJECTIVES);
  assert.equal(r.ok, true);
  assert.ok(close(p.weights.long_term, 0.5));
  p.stop();
});

test('out-of-bounds weights, garbage and bad envelopes are rejected, counted, and the last good weights stay', async () => {
  const { p, rejectedMetric, warnings } = provider({ failureThreshold: 10 });
  reply = { content: '{"user_satisfaction": 0.6, "platform_revenue": 0.1, "long_term": 0.3}' };
  assert.equal((await p.refresh(OBJECTIVES)).ok, true);
  const good = p.weights;
  const bad: Reply[] = [
    { content: '{"user_satisfaction": 1.5, "platform_revenue": -0.2, "long_term": -0.3}' },
    { content: '{"user_satisfaction": 0.9, "platform_revenue": 0.9, "long_term": 0.9}' },
    { content: 'I cannot help with that.' },
    { content: '{"user_satisfaction": "high", "platform_revenue": 0.5, "long_term": 0.5}' },
    { status: 200, body: '<html>not json</html>' },
    { status: 200, body: '{"choices": []}' },
    { status: 500, body: '{"error": "overloaded"}' },
  ];
  for (const b of bad) {
    reply = b;
    const r = await p.refresh(OBJECTIVES);
    assert.equal(r.ok, false, JSON.stringify(b));
    assert.deepEqual(p.weights, good);
  }
  assert.equal(p.rejected, bad.length);
  assert.equal(await rejectedMetric(), bad.length);
  assert.equal(warnings.length, bad.length);
  assert.match(warnings[0].reason ?? '', /user_satisfaction/);
  assert.match(warnings[6].reason ?? '', /HTTP 500/);
  p.stop();
});

test('a hanging endpoint times out (AbortController) and the last good weights stay', async () => {
  const { p, rejectedMetric } = provider({ timeoutMs: 150 });
  reply = { hang: true };
  const r = await p.refresh(OBJECTIVES);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /timed out after 150 ms/);
  assert.deepEqual(p.weights, INITIAL);
  assert.equal(await rejectedMetric(), 1);
  p.stop();
});

test('a huge response body is given up while it streams in, at maxBodyBytes, declared or not', async () => {
  const { p, rejectedMetric } = provider({
    maxBodyBytes: 64 * 1024,
    timeoutMs: 10_000,
    failureThreshold: 10,
  });
  const total = 200 * 1024 * 1024;
  for (const declared of [false, true]) {
    reply = { stream: total, declared };
    const r = await p.refresh(OBJECTIVES);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /body too large/);
    await new Promise((res) => setTimeout(res, 50));
    assert.ok(streamed < 32 * 1024 * 1024, `stopped reading early (${streamed} of ${total} bytes served)`);
  }
  assert.deepEqual(p.weights, INITIAL);
  assert.equal(await rejectedMetric(), 2);
  p.stop();
});

test('code-injection attempts are never executed; only plain JSON data can become weights', async () => {
  const { p, rejectedMetric } = provider({ failureThreshold: 10 });
  const attacks = [
    `{"user_satisfaction": require('child_process').execSync('touch ${PWNED_FILE}'), "platform_revenue": 0.3, "long_term": 0.3}`,
    '```json\n{"user_satisfaction": (function(){ globalThis.__thermostatPwned = 1; return 0.4 })(), "platform_revenue": 0.3, "long_term": 0.3}\n```',
    `{"user_satisfaction": 0.4, "platform_revenue": 0.3, "long_term": 0.3, "__proto__": {"polluted": true}} and also process.exit(1)`,
    '```js\nglobalThis.__thermostatPwned = 1; ({user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3})\n```',
  ];
  const outcomes: boolean[] = [];
  for (const a of attacks) {
    reply = { content: a };
    const r = await p.refresh(OBJECTIVES);
    outcomes.push(r.ok);
  }
  // The third is valid JSON data, but with a key that was not asked for: refused as a whole.
  assert.deepEqual(outcomes, [false, false, false, false]);
  const accepted = 0;
  assert.equal(existsSync(PWNED_FILE), false, 'no command ran');
  assert.equal(
    (globalThis as { __thermostatPwned?: number }).__thermostatPwned,
    undefined,
    'no function ran',
  );
  assert.equal(({} as { polluted?: boolean }).polluted, undefined, 'no prototype pollution');
  assert.equal(await rejectedMetric(), attacks.length - accepted);
  for (const v of Object.values(p.weights)) assert.equal(typeof v, 'number');
  p.stop();
});

test('the breaker opens after consecutive failures, stops calling, then half-opens and recovers', async () => {
  const { p, rejectedMetric } = provider({ failureThreshold: 3, resetTimeoutMs: 200 });
  reply = { content: 'garbage' };
  requests.length = 0;
  for (let i = 0; i < 3; i++) assert.equal((await p.refresh(OBJECTIVES)).ok, false);
  assert.equal(p.breakerState, 'open');
  assert.equal(requests.length, 3);
  const r = await p.refresh(OBJECTIVES);
  assert.deepEqual(r, { ok: false, reason: 'circuit breaker open', shortCircuited: true });
  assert.equal(requests.length, 3, 'no call while open');
  assert.equal(await rejectedMetric(), 3, 'short-circuits are not LLM answers');
  await new Promise((res) => setTimeout(res, 260));
  assert.equal(p.breakerState, 'halfOpen');
  reply = { content: '{"user_satisfaction": 0.2, "platform_revenue": 0.5, "long_term": 0.3}' };
  assert.equal((await p.refresh(OBJECTIVES)).ok, true);
  assert.equal(p.breakerState, 'closed');
  assert.ok(close(p.weights.platform_revenue, 0.5));
  // a success resets the consecutive count: two failures do not open it again
  reply = { content: 'nope' };
  await p.refresh(OBJECTIVES);
  await p.refresh(OBJECTIVES);
  assert.equal(p.breakerState, 'closed');
  p.stop();
});

test("start() refreshes on an unref'd timer and hands new weights to the caller", async () => {
  const { p } = provider({ intervalMs: 50 });
  reply = { content: '{"user_satisfaction": 0.1, "platform_revenue": 0.1, "long_term": 0.8}' };
  const got: number[] = [];
  p.start(
    () => OBJECTIVES,
    (w) => got.push(w.long_term),
  );
  await new Promise((res) => setTimeout(res, 140));
  p.stop();
  assert.ok(got.length >= 2, `${got.length} refreshes`);
  assert.ok(got.every((v) => close(v, 0.8)));
});

test('prompt and URL helpers', () => {
  assert.equal(
    chatCompletionsUrl('https://api.example.com/v1/'),
    'https://api.example.com/v1/chat/completions',
  );
  assert.equal(chatCompletionsUrl('http://h/v1/chat/completions'), 'http://h/v1/chat/completions');
  const msgs = buildPrompt(OBJECTIVES, INITIAL);
  assert.match(msgs[0].content, /ONLY one JSON object/);
  assert.match(msgs[1].content, /"diversity_target":0.62/);
  assert.doesNotMatch(JSON.stringify(msgs), /sk-test/);
});
