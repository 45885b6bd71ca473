// The column codec: JS values to WIT column buffers and back, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ColumnBuilder,
  Failed,
  RowError,
  bitsOf,
  dateOf,
  decodeBatch,
  decodeColumn,
  encodeBatch,
  encodeColumn,
  microsOf,
} from '../vessel-plugin.js';

/** Little-endian i64s, built independently of the SDK. */
function i64Bytes(values) {
  const dv = new DataView(new ArrayBuffer(values.length * 8));
  values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return new Uint8Array(dv.buffer);
}

function readAll(ty, col, rows, options) {
  const c = decodeColumn(ty, col, rows, options);
  return Array.from({ length: rows }, (_, i) => c.get(i));
}

function roundTrip(ty, values, options) {
  return readAll(ty, encodeColumn(ty, values), values.length, options);
}

/** `bytes` copied to offset `shift` of a fresh buffer, so that typed views cannot alias it. */
function shifted(bytes, shift) {
  const buf = new Uint8Array(bytes.length + shift);
  buf.set(bytes, shift);
  return buf.subarray(shift);
}

test('every type round-trips', () => {
  const ints = [0, 1, -1, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  assert.deepEqual(roundTrip('int', ints), ints);
  const floats = [0, -0, 1.5, -2.25, Infinity, 1e300];
  assert.deepEqual(roundTrip('float', floats), floats);
  assert.ok(Number.isNaN(roundTrip('float', [NaN])[0]));
  assert.deepEqual(roundTrip('decimal2', [3.5, -0.01, 0, 12345678.99]), [3.5, -0.01, 0, 12345678.99]);
  const strings = ['', 'tea', 'héllo', '日本語', 'a😀b', ''];
  assert.deepEqual(roundTrip('string', strings), strings);
  const bools = [true, false, true, true, false, false, false, true, true, false, true];
  assert.deepEqual(roundTrip('bool', bools), bools);
  const zeroTime = -62135596800000000; // 0001-01-01T00:00:00Z, Vessel's zero datetime
  const times = [0, 1700000000123456, -1, zeroTime];
  assert.deepEqual(roundTrip('datetime', times), times);
});

test('the wire layout is Arrow little-endian', () => {
  assert.deepEqual(encodeColumn('int', [1, -2, 2 ** 40]).values, i64Bytes([1, -2, 2 ** 40]));
  assert.deepEqual(encodeColumn('decimal2', [3.5, -1.25]).values, i64Bytes([350, -125]));
  assert.deepEqual(encodeColumn('datetime', [new Date(1000)]).values, i64Bytes([1000000]));
  const f = encodeColumn('float', [1.5]).values;
  assert.equal(new DataView(f.buffer, f.byteOffset).getFloat64(0, true), 1.5);
  // Bit i of byte i / 8, least significant first; bits past the last row are clear.
  const b = encodeColumn('bool', [true, false, false, true, false, false, false, false, false, true]);
  assert.deepEqual(Array.from(b.values), [0b0000_1001, 0b0000_0010]);
  const s = encodeColumn('string', ['ab', '', 'é']);
  assert.deepEqual(Array.from(new Uint32Array(s.offsets.slice().buffer)), [0, 2, 2, 4]);
  assert.deepEqual(Array.from(s.values), [0x61, 0x62, 0xc3, 0xa9]);
  assert.equal(s.validity, undefined);
});

test('decimal2 rounds to hundredths, half away from zero', () => {
  const h = (x) => new DataView(encodeColumn('decimal2', [x]).values.buffer).getBigInt64(0, true);
  assert.equal(h(1.005), 101n);
  assert.equal(h(-1.005), -101n);
  assert.equal(h(0.29), 29n);
  assert.equal(h(2.675), 268n);
  assert.equal(h(0.004), 0n);
  assert.equal(h(0.1 + 0.2), 30n);
  assert.equal(h(19.99 * 3), 5997n);
});

test('unaligned buffers are copied, aligned ones viewed in place', () => {
  const bytes = i64Bytes([7, -8, 9]);
  const odd = shifted(bytes, 3);
  const col = decodeColumn('int', { values: odd }, 3);
  assert.deepEqual([col.get(0), col.get(1), col.get(2)], [7, -8, 9]);
  assert.notEqual(col.values.buffer, odd.buffer);
  const even = shifted(bytes, 8);
  assert.equal(decodeColumn('int', { values: even }, 3).values.buffer, even.buffer);

  const s = encodeColumn('string', ['x', 'yz']);
  const strs = decodeColumn('string', { offsets: shifted(s.offsets, 1), values: shifted(s.values, 5) }, 2);
  assert.deepEqual([strs.get(0), strs.get(1)], ['x', 'yz']);
  const fl = decodeColumn('float', { values: shifted(encodeColumn('float', [0.5]).values, 2) }, 1);
  assert.equal(fl.get(0), 0.5);
  assert.ok(fl.values instanceof Float64Array);
});

test('ints beyond ±2^53 are row errors as Numbers and exact as BigInts', () => {
  const big = { values: i64Bytes([2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 60n]) };
  const col = decodeColumn('int', big, 4, { name: 'id' });
  assert.throws(
    () => col.get(0),
    (e) => e instanceof RowError && e.field === 'id' && /9007199254740993 cannot be a JS Number exactly; set `bigint: true`/.test(e.message),
  );
  assert.equal(col.get(3), 2 ** 60); // exactly representable
  assert.deepEqual(readAll('int', big, 4, { bigint: true }), [2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 60n]);
  // BigInts and Numbers are both accepted on output.
  assert.deepEqual(encodeColumn('int', [2n ** 63n - 1n, -5n, 3]).values, i64Bytes([2n ** 63n - 1n, -5n, 3n]));
  assert.throws(() => encodeColumn('int', [2n ** 63n]), RowError);
});

test('decimal2 reads exactly to ±2^51 hundredths and refuses more', () => {
  const h = [2n ** 51n - 1n, -(2n ** 51n), 2n ** 51n, 123456789012345n];
  const col = decodeColumn('decimal2', { values: i64Bytes(h) }, 4, { name: 'amount' });
  assert.equal(col.get(0), Number(2n ** 51n - 1n) / 100);
  assert.equal(col.get(1), -Number(2n ** 51n) / 100);
  assert.throws(() => col.get(2), (e) => e instanceof RowError && e.field === 'amount' && /beyond ±2\^51 hundredths/.test(e.message));
  assert.deepEqual(encodeColumn('decimal2', [col.get(0), col.get(1), col.get(3)]).values, i64Bytes([h[0], h[1], h[3]]));
});

test('values a field cannot hold are row errors; wrong JS types are bugs', () => {
  const push = (ty, v) => new ColumnBuilder(ty, 1, 'x').push(v);
  for (const [ty, v] of [
    ['int', 1.5],
    ['int', 2 ** 53],
    ['int', NaN],
    ['decimal2', Infinity],
    ['datetime', 0.5],
    ['datetime', new Date(NaN)],
  ]) {
    assert.throws(() => push(ty, v), (e) => e instanceof RowError && e.field === 'x', `${ty} ${v}`);
  }
  for (const [ty, v] of [
    ['int', '1'],
    ['float', 1n],
    ['string', 1],
    ['bool', 1],
    ['decimal2', '3.50'],
  ]) {
    assert.throws(
      () => push(ty, v),
      (e) => !(e instanceof RowError) && e.message.startsWith(`\`x\` is ${ty}, so its value must be`),
      `${ty} ${v}`,
    );
  }
});

test('null and undefined become zero values', () => {
  const zero = { int: 0, float: 0, decimal2: 0, string: '', bool: false, datetime: 0 };
  for (const [ty, z] of Object.entries(zero)) assert.deepEqual(roundTrip(ty, [null, undefined]), [z, z], ty);
});

test('validity bitmaps read as nulls', () => {
  const col = decodeColumn('int', { values: i64Bytes([1, 2, 3]), validity: Uint8Array.of(0b101) }, 3);
  assert.deepEqual([col.get(0), col.get(1), col.get(2)], [1, null, 3]);
});

test('builders grow and truncate', () => {
  for (const ty of ['int', 'float', 'bool', 'string']) {
    const b = new ColumnBuilder(ty, 1);
    const v = { int: 5, float: 0.5, bool: true, string: 's' }[ty];
    for (let i = 0; i < 100; i++) b.push(v);
    b.truncate(10);
    b.push(null);
    const got = readAll(ty, b.finish(), 11);
    assert.equal(got.length, 11);
    assert.deepEqual(got.slice(0, 10), new Array(10).fill(v));
    assert.notEqual(got[10], v, ty);
  }
});

test('malformed columns fail naming the column', () => {
  const bad = [
    ['int', { values: new Uint8Array(7) }, 1, /column `c` \(int\): 7 value bytes for 1 rows/],
    ['bool', { values: new Uint8Array(2) }, 3, /2 value bytes for 3 bools/],
    ['string', { values: new Uint8Array(1) }, 1, /no offsets/],
    ['string', { offsets: new Uint8Array(new Uint32Array([0, 2]).buffer), values: new Uint8Array(1) }, 1, /offsets span 0..2/],
    ['string', { offsets: new Uint8Array(new Uint32Array([0, 2, 1, 3]).buffer), values: new Uint8Array(3) }, 3, /offsets decrease at row 1/],
    ['string', { offsets: new Uint8Array(new Uint32Array([0, 1]).buffer), values: Uint8Array.of(0xff) }, 1, /not valid UTF-8/],
    ['int', { values: new Uint8Array(8), validity: new Uint8Array(2) }, 1, /validity has 2 bytes/],
    ['text', { values: new Uint8Array(0) }, 0, /unknown field type "text"/],
  ];
  for (const [ty, col, rows, re] of bad) {
    assert.throws(
      () => decodeColumn(ty, col, rows, { name: 'c' }),
      (e) => e instanceof Failed && e.tag === 'failed' && e.message.startsWith('malformed batch') && re.test(e.message),
      String(re),
    );
  }
  assert.throws(
    () => decodeBatch([{ name: 'a', ty: 'int' }], { rowCount: 0, columns: [] }),
    /malformed batch: 0 columns, expected 1 \(a\)/,
  );
});

test('batches encode rows as objects or arrays', () => {
  const schema = [
    { name: 'n', ty: 'int' },
    { name: 's', ty: 'string' },
  ];
  const b = encodeBatch(schema, [{ n: 1, s: 'a' }, [2, 'b']]);
  assert.equal(b.rowCount, 2);
  const [n, s] = decodeBatch(schema, b);
  assert.deepEqual([n.get(0), n.get(1), s.get(0), s.get(1)], [1, 2, 'a', 'b']);
});

test('helpers', () => {
  assert.deepEqual(bitsOf(Uint8Array.of(0b10), 3), [false, true, false]);
  assert.equal(dateOf(1_500_999).getTime(), 1500);
  assert.equal(microsOf(new Date(1500)), 1_500_000);
});
