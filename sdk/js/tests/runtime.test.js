// Processors and functions run through the exports the component uses, under Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  __setCodegen,
  Failed,
  InvalidParams,
  RowError,
  SchemaMismatch,
  counterAdd,
  encodeBatch,
  encodeColumn,
  functions,
  functionsExport,
  log,
  processor,
  processorExport,
  testing,
} from '../vessel-plugin.js';

const INPUT = { name: 'string', n: 'int', price: 'decimal2' };

/**
 * A test run twice: with the compiled readers and writers the component uses, and with the
 * reference codec they fall back to.
 */
function both(name, fn) {
  for (const on of [true, false]) {
    test(`${name}${on ? '' : ' (reference codec)'}`, () => {
      __setCodegen(on);
      try {
        fn();
      } finally {
        __setCodegen(true);
      }
    });
  }
}

/** A processor of `kind` whose binding is what `open` builds from the context. */
function plugin(kind, open, extra = {}) {
  return processor({ name: 't', version: '0.1.0', kind, open, ...extra });
}

both('map: one output row per input row, without the rows that failed', () => {
  const p = plugin('map', (ctx) => ({
    reads: ['n', 'name', 'n'],
    outputs: { label: 'string', half: 'int', unset: 'decimal2' },
    map(r) {
      if (r.n % 2 !== 0) throw new RowError(`${r.n} is odd`, 'n');
      return { label: `${r.name}${r.n}`, half: r.n / 2 };
    },
  }));
  const h = testing.open(p, { input: INPUT });
  assert.deepEqual(h.binding, {
    reads: ['n', 'name'],
    outputSchema: [
      { name: 'label', ty: 'string' },
      { name: 'half', ty: 'int' },
      { name: 'unset', ty: 'decimal2' },
    ],
  });
  const out = h.process([{ n: 4, name: 'x' }, { n: 3, name: 'y' }, { n: 10, name: 'z' }]);
  assert.deepEqual(out.rows, [
    { label: 'x4', half: 2, unset: 0 },
    { label: 'z10', half: 5, unset: 0 },
  ]);
  assert.deepEqual(out.rowErrors, [{ row: 1, field: 'n', message: '3 is odd' }]);
  assert.equal(out.keep, undefined);
  assert.equal(out.parents, undefined);
});

both('a value an output cannot hold is a row error that rolls the row back', () => {
  const p = plugin('map', () => ({
    reads: ['n'],
    outputs: { s: 'string', i: 'int' },
    map: (r) => ({ s: `row${r.n}`, i: r.n / 2 }),
  }));
  const out = testing.open(p, { input: INPUT }).process([{ n: 1 }, { n: 2 }]);
  assert.deepEqual(out.rows, [{ s: 'row2', i: 1 }]);
  assert.deepEqual(out.rowErrors, [{ row: 0, field: 'i', message: '0.5 is not an integer' }]);
});

both('filter: keep bits over the input rows', () => {
  const p = plugin('filter', () => ({
    reads: ['n'],
    filter(r) {
      if (r.n === 100) throw new RowError('hundred');
      return r.n > 0;
    },
  }));
  const out = testing.open(p, { input: INPUT }).process([1, 0, 100, 5, -1].map((n) => ({ n })));
  assert.deepEqual(out.keep, [true, false, false, true, false]);
  assert.deepEqual(out.rows, [{}, {}]);
  assert.deepEqual(out.rowErrors, [{ row: 2, field: undefined, message: 'hundred' }]);
});

both('filter-map: kept rows carry outputs; null or false drops', () => {
  const p = plugin('filter-map', () => ({
    reads: ['n'],
    outputs: { i: 'int' },
    filterMap: (r) => (r.n === 0 ? null : r.n > 0 && { i: r.n * 10 }),
  }));
  const out = testing.open(p, { input: INPUT }).process([1, 0, -3, 5].map((n) => ({ n })));
  assert.deepEqual(out.keep, [true, false, false, true]);
  assert.deepEqual(out.rows, [{ i: 10 }, { i: 50 }]);
});

both('flat-map: parents per output row; a failed row emits nothing', () => {
  const p = plugin('flat-map', () => ({
    reads: ['n'],
    outputs: { i: 'int' },
    *flatMap(r) {
      for (let i = 0; i < r.n; i++) yield { i };
      if (r.n === 3) throw new RowError('three');
    },
  }));
  const h = testing.open(p, { input: INPUT });
  const out = h.process([2, 0, 3, 1].map((n) => ({ n })));
  assert.deepEqual(out.parents, [0, 0, 3]);
  assert.deepEqual(out.rows, [{ i: 0 }, { i: 1 }, { i: 0 }]);
  assert.deepEqual(out.rowErrors.map((e) => e.row), [2]);
  // Many rows per input row grow the buffers.
  const many = h.process([{ n: 5000 }, { n: 1 }]);
  assert.equal(many.rows.length, 5001);
  assert.equal(many.parents[5000], 1);
});

both('misusing the API fails the batch naming the row', () => {
  const cases = [
    ['map', (r) => undefined, /plugin bug at input row 0: an output row must be an object .*not a undefined/],
    ['map', (r) => ({ o: 'x' }), /plugin bug at input row 0: `o` is int, so its value must be a number or a BigInt, not a string/],
    ['filter', (r) => 1, /filter must return true \(keep the row\) or false \(drop it\), not a number/],
    ['flat-map', (r) => ({ o: 1 }), /flatMap must return an array of output rows/],
    ['map', (r) => r.missing.x, /error at input row 0: TypeError: /],
  ];
  for (const [kind, fn, re] of cases) {
    const p = plugin(kind, () => ({
      reads: ['n'],
      outputs: kind === 'filter' ? {} : { o: 'int' },
      [{ map: 'map', filter: 'filter', 'flat-map': 'flatMap' }[kind]]: fn,
    }));
    assert.throws(() => testing.open(p, { input: INPUT }).process([{ n: 1 }]), (e) => e instanceof Failed && re.test(e.message), String(re));
  }
});

both('open checks parameters and the binding', () => {
  const needsFactor = plugin('map', (ctx) => {
    const f = ctx.param('factor', 'number');
    return { reads: [], outputs: {}, map: () => ({ f }) };
  });
  const openErr = (p, opts) => {
    try {
      testing.open(p, { input: INPUT, ...opts });
    } catch (e) {
      return [e.constructor, e.message];
    }
    assert.fail('open succeeded');
  };
  assert.deepEqual(openErr(needsFactor, {}), [InvalidParams, 'missing parameter `factor`']);
  assert.deepEqual(openErr(needsFactor, { params: { factor: 'x' } }), [InvalidParams, 'parameter `factor` must be a number, got a string']);
  assert.deepEqual(openErr(needsFactor, { params: '[1]' }), [InvalidParams, "params must be a JSON object (the node's `p` section)"]);
  assert.match(openErr(needsFactor, { params: '{' })[1], /^params are not valid JSON: /);

  const reads = (names, outputs = {}, kind = 'map') =>
    plugin(kind, () => ({ reads: names, outputs, map: () => ({}), filter: () => true }));
  assert.deepEqual(openErr(reads(['price', 'qty']), {}), [
    SchemaMismatch,
    'cannot read `qty`: the input has no field `qty`; it has name, n, price',
  ]);
  assert.deepEqual(openErr(reads([], [['a', 'int'], ['a', 'int']]), {}), [Failed, 'output field `a` is declared twice']);
  assert.deepEqual(openErr(reads([], { a: 'text' }), {}), [Failed, 'output `a` has type "text"; use one of int, float, decimal2, string, bool, datetime']);
  assert.match(openErr(reads([], { a: 'int' }, 'filter'), {})[1], /a filter produces no output fields, but the binding declares a; use kind 'filter-map'/);
  assert.deepEqual(openErr(plugin('flat-map', () => ({ map: () => ({}) })), {}), [
    Failed,
    'open() of a flat-map plugin must return a `flatMap` function in its binding',
  ]);

  const typed = plugin('map', (ctx) => {
    ctx.require('price', 'int');
    return { map: () => ({}) };
  });
  assert.deepEqual(openErr(typed, {}), [SchemaMismatch, 'input field `price` is a decimal2, expected an int']);
});

both('processor() rejects bad definitions when the module loads', () => {
  assert.throws(
    () => processor({ name: 'Bad Name', version: '1', kind: 'reduce' }),
    /processor\(\): name must match \[a-z0-9_-\]\+ \(got "Bad Name"\); version must be semver .*; kind must be one of map, filter, filter-map, flat-map \(got "reduce"\); open must be a function/,
  );
});

both('bigint: true reads ints as BigInt', () => {
  const p = plugin(
    'map',
    () => ({ reads: ['n'], outputs: { m: 'int', t: 'string' }, map: (r) => ({ m: r.n + 1n, t: typeof r.n }) }),
    { bigint: true },
  );
  const out = testing.open(p, { input: INPUT }).process([{ n: 2n ** 62n }]);
  assert.deepEqual(out.rows, [{ m: 2n ** 62n + 1n, t: 'bigint' }]);
});

both('the component protocol: results as {tag, val}, buffers as Uint8Array', () => {
  const p = plugin(
    'map',
    () => ({ reads: ['n'], outputs: { m: 'int' }, map: (r) => ({ m: r.n * 2 }) }),
    { description: 'doubles', paramsSchema: { type: 'object' } },
  );
  const calls = [];
  const host = {
    log: (level, message) => calls.push(['log', level, message]),
    logEnabled: (level) => level !== 'trace',
    counterAdd: (name, delta) => calls.push(['counter', name, delta]),
  };
  const exp = processorExport(p, host);
  assert.deepEqual(exp.describe(), {
    name: 't',
    version: '0.1.0',
    kind: 'map',
    description: 'doubles',
    paramsSchema: '{"type":"object"}',
  });
  const opened = exp.Instance.open({ paramsJson: '{}', inputSchema: [{ name: 'n', ty: 'int' }], keyspace: 'k', runId: 1, nodeName: 'x' });
  assert.equal(opened.tag, 'ok');
  assert.ok(opened.val instanceof exp.Instance);
  const res = opened.val.process({ rowCount: 1, columns: [{ validity: undefined, offsets: undefined, values: new Uint8Array(8).fill(0) }] });
  assert.equal(res.tag, 'ok');
  assert.ok(res.val.output.columns[0].values instanceof Uint8Array);
  const bad = opened.val.process({ rowCount: 1, columns: [] });
  assert.deepEqual(bad, { tag: 'err', val: { tag: 'failed', val: 'malformed batch: 0 columns, expected 1 (n)' } });
  const missing = exp.Instance.open({ paramsJson: '{}', inputSchema: [], keyspace: 'k', runId: 1, nodeName: 'x' });
  assert.deepEqual(missing.val.tag, 'schema-mismatch');

  log.info('hello');
  log.trace(() => assert.fail('not formatted when the level is off'));
  counterAdd('rows', 3);
  assert.deepEqual(calls, [
    ['log', 'info', 'hello'],
    ['counter', 'rows', 3n],
  ]);
});

both('logs and counters are collected by the test harness', () => {
  const p = plugin('filter', () => ({
    reads: [],
    filter() {
      log.debug(() => 'formatted');
      counterAdd('seen');
      return true;
    },
  }));
  const h = testing.open(p, { input: INPUT });
  h.process([{}, {}]);
  assert.deepEqual(h.logs, [
    { level: 'debug', message: 'formatted' },
    { level: 'debug', message: 'formatted' },
  ]);
  assert.deepEqual(h.counters, { seen: 2n });
});

const FNS = functions({
  upper: { params: ['string'], returns: 'string', description: 'Upper case.', fn: (s) => s.toUpperCase() },
  add: { params: ['int', 'int', 'int'], returns: 'int', fn: (a, b, c) => a + b + c },
  later: {
    params: ['datetime', 'float'],
    returns: 'datetime',
    fn: (t, hours) => (hours < 0 ? null : new Date(t / 1000 + hours * 3600e3)),
  },
  price: {
    params: ['decimal2', 'bool'],
    returns: 'decimal2',
    fn: (d, vat) => {
      if (d < 0) throw new Error('negative');
      return vat ? d * 1.2 : d;
    },
  },
});

both('functions evaluate a column at a time', () => {
  assert.deepEqual(testing.call(FNS, 'upper', [['tea'], ['été']]), ['TEA', 'ÉTÉ']);
  assert.deepEqual(testing.call(FNS, 'add', [[1, 2, 3], [-1, 0, 0]]), [6, -1]);
  assert.deepEqual(testing.call(FNS, 'price', [[10, true], [2.5, false]]), [12, 2.5]);
  const zeroTime = -62135596800000000;
  assert.deepEqual(testing.call(FNS, 'later', [[0, 1.5], [zeroTime, 0], [5, -1]]), [5400e6, zeroTime, 0]);
  assert.throws(() => testing.call(FNS, 'price', [[1, true], [-1, true]]), (e) => e instanceof Failed && e.message === 'function `price`, row 1: negative');
  assert.deepEqual(functionsExport(FNS).listFunctions()[0], { name: 'upper', params: ['string'], returns: 'string', description: 'Upper case.' });
  const exp = functionsExport(FNS);
  assert.deepEqual(exp.call('lower', [], 0), {
    tag: 'err',
    val: { tag: 'failed', val: 'no function `lower` in this component; it has upper, add, later, price' },
  });
  assert.deepEqual(exp.call('upper', [], 0).val.val, 'function `upper` takes 1 arguments, the call passed 0');
  assert.match(exp.call('upper', [{ values: new Uint8Array(0) }], 1).val.val, /^function `upper`: malformed batch: column `argument 1` \(string\): no offsets/);
});

both('functions() rejects bad definitions', () => {
  assert.throws(
    () => functions({ Upper: { params: ['text'], returns: 'string', fn: 1 } }),
    /`Upper`: names must match .*; `Upper`: params must be a list of field types .*; `Upper`: fn must be a function/,
  );
});

test('compiled readers and writers match the reference codec byte for byte', () => {
  const schema = [
    { name: 'i', ty: 'int' },
    { name: 'f', ty: 'float' },
    { name: 'd', ty: 'decimal2' },
    { name: 's', ty: 'string' },
    { name: 'b', ty: 'bool' },
    { name: 't', ty: 'datetime' },
  ];
  const ints = [0, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53) + 1, 2n ** 60n, 123456789012];
  const decimals = [-21474830.01, -0.01, 0.01, 1005, 2 ** 33 / 100, -(2 ** 40) / 100, 21474829.99, 2 ** 52 / 100];
  const floats = [1.5, NaN, -0, Infinity, -Infinity, 1e-300, 0, 2];
  const times = [0, -1, -62135596800000000, 1700000000123456, 2 ** 53 + 8, 1, -(2 ** 31), 2 ** 31];
  const rows = (strings) =>
    ints.map((i, k) => ({ i, f: floats[k], d: decimals[k], s: strings[k % strings.length], b: k % 3 === 0, t: times[k] }));
  const outputs = {
    i: 'int', i2: 'int', f: 'float', d: 'decimal2', dh: 'decimal2', dx: 'decimal2', dq: 'decimal2', dr: 'decimal2', s: 'string', s2: 'string',
    b: 'bool', nb: 'bool', t: 'datetime', td: 'datetime', z: 'int', zs: 'string',
  };
  const p = plugin('map', () => ({
    reads: schema.map((f) => f.name),
    outputs,
    map: (r) => ({
      ...r,
      i2: r.i * 3,
      dh: r.d / 2,
      dx: r.d * 1.1,
      dq: r.d / 3 + 0.0037,
      dr: r.d + 0.0055,
      s2: r.s + r.s.length,
      nb: !r.b,
      td: r.t > 0 ? new Date(r.t / 1000) : r.t - 1,
      z: null,
    }),
  }));
  const run = (on, strings) => {
    __setCodegen(on);
    try {
      const inst = processorExport(p).Instance.open({ paramsJson: '{}', inputSchema: schema, keyspace: '', runId: 0, nodeName: '' }).val;
      return inst.process(encodeBatch(schema, rows(strings)));
    } finally {
      __setCodegen(true);
    }
  };
  for (const strings of [['', 'tea', 'x'], ['', 'é', '日本語', 'a😀b']]) {
    const fast = run(true, strings);
    assert.equal(fast.tag, 'ok');
    assert.deepEqual(fast, run(false, strings));
    // (2^53 - 1) * 3 is not a safe integer, nor is 2^60 (read exactly), and 2^52 hundredths
    // cannot be read to the cent: row errors in both.
    assert.deepEqual(fast.val.rowErrors.map((e) => [e.row, e.field]), [[4, 'i2'], [5, 'i2'], [6, 'i'], [7, 'd']]);
    assert.equal(fast.val.output.rowCount, 4);
  }
});

test('columns with a validity bitmap are read by the reference path', () => {
  const p = plugin('map', () => ({ reads: ['n'], outputs: { isNull: 'bool' }, map: (r) => ({ isNull: r.n === null }) }));
  const inst = processorExport(p).Instance.open({ paramsJson: '{}', inputSchema: [{ name: 'n', ty: 'int' }], keyspace: '', runId: 0, nodeName: '' }).val;
  const col = { ...encodeColumn('int', [1, 2, 3]), validity: Uint8Array.of(0b101) };
  const res = inst.process({ rowCount: 3, columns: [col] });
  assert.deepEqual(Array.from(res.val.output.columns[0].values), [0b010]);
  // The next batch, without validity, takes the compiled path again.
  const again = inst.process({ rowCount: 3, columns: [encodeColumn('int', [1, 2, 3])] });
  assert.deepEqual(Array.from(again.val.output.columns[0].values), [0]);
});
