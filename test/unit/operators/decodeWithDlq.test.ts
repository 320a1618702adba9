/** @test {decodeWithDlq} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { ThermostatError } from '../../../core/errors.js';
import { type DlqEntry, decodeBatch, decodeWithDlq } from '../../../operators/decodeWithDlq.js';
import { marbles } from './marbles.js';

interface Raw {
  topic: string;
  partition: number;
  offset: string;
  value: string;
}
const raw = (offset: number, value: string): Raw => ({
  topic: 'user-interactions',
  partition: 2,
  offset: String(offset),
  value,
});

// Digits decode to numbers; 'bad' is a poison record (typed error); 'bug' makes the decoder crash.
function decode(r: Raw): number {
  if (r.value === 'bad') throw new ThermostatError('AVRO_DECODE', 'not avro');
  if (r.value === 'bug') throw new TypeError('cannot read x of undefined');
  return Number(r.value);
}

describe('decodeWithDlq', () => {
  test('good records flow, a poison record goes to the DLQ with reason and coordinates', () => {
    const dlq: DlqEntry<Raw>[] = [];
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-|', {
        a: [raw(0, '1'), raw(1, 'bad')],
        b: [raw(2, 'bad')],
        c: [raw(3, '3'), raw(4, '4')],
      });
      expectObservable(src.pipe(decodeWithDlq(decode, (e) => dlq.push(e)))).toBe('-a---c-|', {
        a: [1],
        c: [3, 4],
      });
      expectSubscriptions(src.subscriptions).toBe('^------!');
    });
    assert.deepEqual(
      dlq.map(({ reason, topic, partition, offset, message, record }) => ({
        reason,
        topic,
        partition,
        offset,
        message,
        value: record.value,
      })),
      [
        {
          reason: 'AVRO_DECODE',
          topic: 'user-interactions',
          partition: 2,
          offset: '1',
          message: 'not avro',
          value: 'bad',
        },
        {
          reason: 'AVRO_DECODE',
          topic: 'user-interactions',
          partition: 2,
          offset: '2',
          message: 'not avro',
          value: 'bad',
        },
      ],
    );
  });

  test('an unexpected decoder error is wrapped as INTERNAL and the stream goes on (Subject sink)', () => {
    const dlq = new Subject<DlqEntry<Raw>>();
    const seen: string[] = [];
    dlq.subscribe((e) => seen.push(`${e.reason}@${e.offset}:${e.message}`));
    marbles(({ cold, expectObservable }) => {
      const src = cold('-a-b-|', { a: [raw(7, 'bug')], b: [raw(8, '8')] });
      expectObservable(src.pipe(decodeWithDlq(decode, dlq))).toBe('---b-|', { b: [8] });
    });
    assert.deepEqual(seen, ['INTERNAL@7:cannot read x of undefined']);
  });

  test('never, empty, single, error and early unsubscribe', () => {
    const dlq: DlqEntry<Raw>[] = [];
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<Raw[]>('-').pipe(decodeWithDlq(decode, (e) => dlq.push(e)))).toBe('-');
      expectObservable(cold<Raw[]>('|').pipe(decodeWithDlq(decode, (e) => dlq.push(e)))).toBe('|');
      expectObservable(cold('a|', { a: [raw(0, '5')] }).pipe(decodeWithDlq(decode, (e) => dlq.push(e)))).toBe(
        'a|',
        { a: [5] },
      );
      expectObservable(
        cold('a#', { a: [raw(0, '5')] }, new Error('broker gone')).pipe(
          decodeWithDlq(decode, (e) => dlq.push(e)),
        ),
      ).toBe('a#', { a: [5] }, new Error('broker gone'));
      const src = hot('-a--b--c-|', { a: [raw(0, '1')], b: [raw(1, '2')], c: [raw(2, '3')] });
      expectObservable(src.pipe(decodeWithDlq(decode, (e) => dlq.push(e))), '^----!').toBe('-a--b', {
        a: [1],
        b: [2],
      });
      expectSubscriptions(src.subscriptions).toBe('^----!');
    });
    assert.equal(dlq.length, 0);
  });

  test('a DLQ sink that throws is fatal: the error goes downstream, not swallowed', () => {
    marbles(({ cold, expectObservable }) => {
      const src = cold('-a-b-|', { a: [raw(0, '1')], b: [raw(1, 'bad')] });
      const failing = () => {
        throw new Error('dlq producer down');
      };
      expectObservable(src.pipe(decodeWithDlq(decode, failing))).toBe(
        '-a-#',
        { a: [1] },
        new Error('dlq producer down'),
      );
    });
  });

  test('decodeBatch (the core) keeps order and accepts numeric offsets', () => {
    const dlq: DlqEntry<{ topic: string; partition: number; offset: number; value: string }>[] = [];
    const batch = [
      { topic: 't', partition: 0, offset: 10, value: '3' },
      { topic: 't', partition: 0, offset: 11, value: 'bad' },
      { topic: 't', partition: 0, offset: 12, value: '1' },
    ];
    const out = decodeBatch(
      batch,
      (r) => decode({ ...r, offset: String(r.offset) }),
      (e) => dlq.push(e),
    );
    assert.deepEqual(out, [3, 1]);
    assert.deepEqual(
      dlq.map((e) => [e.reason, e.offset]),
      [['AVRO_DECODE', '11']],
    );
  });
});
