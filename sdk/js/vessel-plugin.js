// The JavaScript SDK for Vessel plugins: WebAssembly components built from an ES module with
// componentize-js (StarlingMonkey), run by Vessel as custom processors or expression functions.
//
// A plugin's `index.js` default-exports what `processor({...})` or `functions({...})` returns;
// `vessel plugin build` puts this file beside it and generates the component's exports. The
// module itself imports nothing, so that the codec, the runtime and the `testing` helpers also
// run under plain Node. README.md is the guide.
//
// Values by field type (see README.md, "Values"):
//   int       Number (a safe integer); BigInt when the plugin sets `bigint: true`
//   float     Number
//   decimal2  Number of units (3.5 for 3.50); written back rounded to hundredths
//   string    string
//   bool      boolean
//   datetime  Number of microseconds since 1970-01-01T00:00:00Z (a Date is accepted on output)

/** The field types of Vessel schemas, as the WIT enum `field-type` spells them. */
export const FieldType = Object.freeze({
  INT: 'int',
  FLOAT: 'float',
  DECIMAL2: 'decimal2',
  STRING: 'string',
  BOOL: 'bool',
  DATETIME: 'datetime',
});

const TYPES = new Set(Object.values(FieldType));

/** Processor kinds, and the name of the per-row function each one's `open` returns. */
const KIND_FUNCTION = Object.freeze({
  map: 'map',
  filter: 'filter',
  'filter-map': 'filterMap',
  'flat-map': 'flatMap',
});

// Typed arrays use the platform's byte order; the wire format is little-endian. Wasm is always
// little-endian, and so are the machines Node tests run on; refuse anything else loudly.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('vessel-plugin.js needs a little-endian platform');
}

const TWO_32 = 4294967296;
// i64 values whose high word lies in this range are within ±2^53: they convert to a Number
// exactly.
const HI_SAFE_MIN = -0x200000;
const HI_SAFE_MAX = 0x1fffff;
// decimal2 hundredths within ±2^51 survive `/ 100` and `* 100` unchanged; larger ones may not.
const DEC_SAFE_MIN = -0x80000;
const DEC_SAFE_MAX = 0x7ffff;

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const ENCODER = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * A failure of `open`, of a batch or of a function call, reported to the host as the WIT
 * `error` variant. Throw one of the subclasses.
 */
export class PluginError extends Error {
  /** @param {'invalid-params'|'schema-mismatch'|'failed'} tag @param {string} message */
  constructor(tag, message) {
    super(message);
    this.name = 'PluginError';
    this.tag = tag;
  }
}

/** The node's parameters (`p`) are wrong; reported when the script is validated. */
export class InvalidParams extends PluginError {
  constructor(message) {
    super('invalid-params', message);
    this.name = 'InvalidParams';
  }
}

/** The input lacks a field the plugin needs, or has it with another type. */
export class SchemaMismatch extends PluginError {
  constructor(message) {
    super('schema-mismatch', message);
    this.name = 'SchemaMismatch';
  }
}

/** This batch (or function call) cannot be processed; the host fails it. */
export class Failed extends PluginError {
  constructor(message) {
    super('failed', message);
    this.name = 'Failed';
  }
}

/**
 * A problem with one input row: the row produces no output and is reported; the batch goes on.
 * Throw it from a row function.
 */
export class RowError extends Error {
  /** @param {string} message @param {string} [field] the field concerned */
  constructor(message, field) {
    super(message);
    this.name = 'RowError';
    this.field = field;
  }
}

/** A plugin bug that no data can cause (wrong return shape, wrong value type): fails the batch. */
class Misuse extends Error {}

function describeError(e) {
  if (e instanceof Error) return e.message ? `${e.name}: ${e.message}` : e.name;
  return String(e);
}

function wireError(e) {
  if (e instanceof PluginError) return { tag: e.tag, val: e.message };
  return { tag: 'failed', val: describeError(e) };
}

// ---------------------------------------------------------------------------------------------
// Codec: WIT columns to typed readers

/** An aligned view of `bytes` for `Ctor` (copied when the buffer is not aligned for it). */
function aligned(bytes, Ctor) {
  const size = Ctor.BYTES_PER_ELEMENT;
  const count = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, count);
  const copy = new Uint8Array(count * size);
  copy.set(bytes.subarray(0, count * size));
  return new Ctor(copy.buffer, 0, count);
}

function asBytes(x, what) {
  if (x instanceof Uint8Array) return x;
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (Array.isArray(x)) return Uint8Array.from(x);
  throw new Failed(`${what} is not a byte buffer`);
}

/** Checks a validity bitmap: returns it, or undefined when absent. */
function validityOf(col, rows) {
  if (col.validity === undefined || col.validity === null) return undefined;
  const v = asBytes(col.validity, 'validity');
  if (v.length !== Math.ceil(rows / 8)) {
    throw new Failed(`validity has ${v.length} bytes, expected ${Math.ceil(rows / 8)}`);
  }
  return v;
}

function isNull(validity, i) {
  return validity !== undefined && ((validity[i >> 3] >> (i & 7)) & 1) === 0;
}

/**
 * int, decimal2 and datetime columns. `values` is a BigInt64Array; `get(i)` returns the row's
 * value as the SDK's JS value for the type.
 */
class I64Column {
  constructor(name, ty, bytes, rows, validity, bigint) {
    if (bytes.length !== rows * 8) {
      throw new Failed(`${bytes.length} value bytes for ${rows} rows (expected ${rows * 8})`);
    }
    this.name = name;
    this.ty = ty;
    this.rows = rows;
    this.validity = validity;
    this.bigint = bigint && ty === 'int';
    this.values = aligned(bytes, BigInt64Array);
    this.words = new Int32Array(this.values.buffer, this.values.byteOffset, rows * 2);
  }

  /**
   * The i64 of row `i` as a Number: exact, or a RowError. Values within ±2^53 always convert;
   * larger ones only when a double holds them exactly (the zero datetime, 0001-01-01, does).
   */
  number(i) {
    const hi = this.words[2 * i + 1];
    const lo = this.words[2 * i] >>> 0;
    if (this.ty === 'decimal2' && (hi < DEC_SAFE_MIN || hi > DEC_SAFE_MAX)) {
      throw new RowError(
        `${Number(this.values[i]) / 100} is beyond ±2^51 hundredths (about 22 trillion): ` +
          'a JS Number cannot hold it to the cent',
        this.name || undefined,
      );
    }
    const n = hi * TWO_32 + lo;
    // Outside ±2^53 the sum may round; the difference below is then exact and shows it.
    if ((hi < HI_SAFE_MIN || hi > HI_SAFE_MAX) && n - hi * TWO_32 !== lo) {
      throw new RowError(
        `${this.values[i]} cannot be a JS Number exactly` +
          (this.ty === 'int' ? '; set `bigint: true` on the plugin to read ints as BigInt' : ''),
        this.name || undefined,
      );
    }
    return n;
  }

  get(i) {
    if (this.validity !== undefined && isNull(this.validity, i)) return null;
    if (this.bigint) return this.values[i];
    const n = this.number(i);
    return this.ty === 'decimal2' ? n / 100 : n;
  }
}

/** float columns: `values` is a Float64Array. */
class F64Column {
  constructor(name, bytes, rows, validity) {
    if (bytes.length !== rows * 8) {
      throw new Failed(`${bytes.length} value bytes for ${rows} rows (expected ${rows * 8})`);
    }
    this.name = name;
    this.ty = 'float';
    this.rows = rows;
    this.validity = validity;
    this.values = aligned(bytes, Float64Array);
  }

  get(i) {
    if (this.validity !== undefined && isNull(this.validity, i)) return null;
    return this.values[i];
  }
}

/** bool columns: `values` holds the bits, least significant first. */
class BoolColumn {
  constructor(name, bytes, rows, validity) {
    if (bytes.length !== Math.ceil(rows / 8)) {
      throw new Failed(`${bytes.length} value bytes for ${rows} bools (expected ${Math.ceil(rows / 8)})`);
    }
    this.name = name;
    this.ty = 'bool';
    this.rows = rows;
    this.validity = validity;
    this.values = bytes;
  }

  get(i) {
    if (this.validity !== undefined && isNull(this.validity, i)) return null;
    return ((this.values[i >> 3] >> (i & 7)) & 1) === 1;
  }
}

/**
 * string columns: `offsets` is a Uint32Array of rows + 1 byte offsets into `values`.
 *
 * The whole text is decoded once (which also checks its UTF-8). When it is ASCII, byte offsets
 * are string indices and each row is a substring of it; otherwise each row is decoded alone.
 */
class StrColumn {
  constructor(name, offsetBytes, bytes, rows, validity) {
    if (offsetBytes.length !== (rows + 1) * 4) {
      throw new Failed(`${offsetBytes.length} offset bytes for ${rows} rows (expected ${(rows + 1) * 4})`);
    }
    const offsets = aligned(offsetBytes, Uint32Array);
    if (offsets[0] !== 0 || offsets[rows] !== bytes.length) {
      throw new Failed(`offsets span ${offsets[0]}..${offsets[rows]}, the text has ${bytes.length} bytes`);
    }
    for (let i = 0; i < rows; i++) {
      if (offsets[i + 1] < offsets[i]) throw new Failed(`offsets decrease at row ${i}`);
    }
    let text;
    try {
      text = UTF8.decode(bytes);
    } catch {
      throw new Failed('the text is not valid UTF-8');
    }
    this.name = name;
    this.ty = 'string';
    this.rows = rows;
    this.validity = validity;
    this.offsets = offsets;
    this.values = bytes;
    this.ascii = text.length === bytes.length;
    this.text = this.ascii ? text : undefined;
  }

  get(i) {
    if (this.validity !== undefined && isNull(this.validity, i)) return null;
    const a = this.offsets[i];
    const b = this.offsets[i + 1];
    if (this.ascii) return this.text.substring(a, b);
    try {
      return UTF8.decode(this.values.subarray(a, b));
    } catch {
      throw new Failed(`row ${i}: offsets split a UTF-8 character`);
    }
  }
}

/**
 * Decodes one WIT column (`{validity, offsets, values}`) of `rows` rows and type `ty` into a
 * reader with `get(i)` and typed views (`values`, and `offsets` for strings). Buffers are used
 * in place when aligned and copied otherwise.
 *
 * @param {string} ty field type
 * @param {{validity?: Uint8Array, offsets?: Uint8Array, values: Uint8Array}} col
 * @param {number} rows
 * @param {{name?: string, bigint?: boolean}} [options] `name` for messages; `bigint` reads
 *   int values as BigInt
 * @throws {Failed} when the buffers do not match the type and row count
 */
export function decodeColumn(ty, col, rows, options = {}) {
  const name = options.name ?? '';
  try {
    const validity = validityOf(col, rows);
    const values = asBytes(col.values, 'values');
    switch (ty) {
      case 'int':
      case 'decimal2':
      case 'datetime':
        return new I64Column(name, ty, values, rows, validity, options.bigint === true);
      case 'float':
        return new F64Column(name, values, rows, validity);
      case 'bool':
        return new BoolColumn(name, values, rows, validity);
      case 'string':
        if (col.offsets === undefined || col.offsets === null) throw new Failed('no offsets');
        return new StrColumn(name, asBytes(col.offsets, 'offsets'), values, rows, validity);
      default:
        throw new Failed(`unknown field type ${JSON.stringify(ty)}`);
    }
  } catch (e) {
    const what = name ? `column \`${name}\` (${ty})` : `a ${ty} column`;
    throw new Failed(`malformed batch: ${what}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * Decodes a WIT batch (`{rowCount, columns}`) against a schema (`[{name, ty}]`, one column per
 * field in order) into column readers.
 *
 * @throws {Failed} when the batch does not match the schema
 */
export function decodeBatch(schema, batch, options = {}) {
  const rows = batch.rowCount;
  if (batch.columns.length !== schema.length) {
    throw new Failed(
      `malformed batch: ${batch.columns.length} columns, expected ${schema.length} (${schema.map((f) => f.name).join(', ')})`,
    );
  }
  return schema.map((f, j) => decodeColumn(f.ty, batch.columns[j], rows, { ...options, name: f.name }));
}

// ---------------------------------------------------------------------------------------------
// Codec: JS values to WIT columns

/**
 * `x` (units) as hundredths, rounded half away from zero. Products like 1.005 * 100 land a hair
 * below .5 in binary; a value within 1e-7 of a half is rounded at 15 significant digits first,
 * as a person reading the decimal would.
 */
function toHundredths(x) {
  let h = x * 100;
  const frac = Math.abs(h - Math.trunc(h));
  if (Math.abs(frac - 0.5) < 1e-7) h = Number(h.toPrecision(15));
  return h < 0 ? -Math.floor(-h + 0.5) : Math.floor(h + 0.5);
}

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a Date';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** The wrong JS type for a field: a plugin bug, which fails the batch. */
function wrongType(name, ty, v, expected) {
  const field = name ? `\`${name}\`` : 'the result';
  throw new Misuse(`${field} is ${ty}, so its value must be ${expected}, not ${typeName(v)}`);
}

// The checks below turn a JS value into the i64 of a field (a Number or a BigInt), throwing a
// RowError for a value of the right JS type that the field cannot hold (data can cause it) and
// a Misuse for a value of the wrong JS type (a bug).

function intOf(v, name) {
  if (typeof v === 'bigint') return v;
  if (typeof v !== 'number') wrongType(name, 'int', v, 'a number or a BigInt');
  if (!Number.isSafeInteger(v)) {
    throw new RowError(
      Number.isInteger(v) ? `${v} is not a safe integer (beyond ±(2^53 - 1)); use a BigInt` : `${v} is not an integer`,
      name || undefined,
    );
  }
  return v;
}

function decimalOf(v, name) {
  if (typeof v !== 'number') wrongType(name, 'decimal2', v, 'a number');
  const h = Number.isFinite(v) ? toHundredths(v) : NaN;
  if (!Number.isSafeInteger(h)) throw new RowError(`${v} is not a decimal2 value`, name || undefined);
  return h;
}

function datetimeOf(v, name) {
  let us = v;
  if (v instanceof Date) us = v.getTime() * 1000;
  else if (typeof v !== 'number') wrongType(name, 'datetime', v, 'a Number of microseconds or a Date');
  // Any integral double within i64 is exact; unlike ints, datetimes far from 1970 (such as
  // the zero datetime, 0001-01-01) are beyond ±2^53 microseconds.
  if (!Number.isInteger(us) || Math.abs(us) >= 2 ** 63) {
    throw new RowError(`${v} is not a datetime (microseconds since the epoch)`, name || undefined);
  }
  return us;
}

/** Stores an i64 (a Number that is an integer within i64, or a BigInt) at row `k` of `words`. */
function putI64(words, k, v, name) {
  if (typeof v === 'bigint') {
    if (v !== BigInt.asIntN(64, v)) throw new RowError(`${v} does not fit in 64 bits`, name || undefined);
    words[2 * k] = Number(BigInt.asIntN(32, v));
    words[2 * k + 1] = Number(BigInt.asIntN(32, v >> 32n));
    return;
  }
  const hi = Math.floor(v / TWO_32);
  words[2 * k] = v - hi * TWO_32;
  words[2 * k + 1] = hi;
}

const I64_OF = { int: intOf, decimal2: decimalOf, datetime: datetimeOf };

function i64Column(words, n) {
  return { validity: undefined, offsets: undefined, values: new Uint8Array(words.buffer, 0, n * 8) };
}

function f64Column(floats, n) {
  return { validity: undefined, offsets: undefined, values: new Uint8Array(floats.buffer, 0, n * 8) };
}

function boolColumn(bits, n) {
  const len = Math.ceil(n / 8);
  const values = bits.slice(0, len);
  // Bits past the last row stay clear, as Arrow expects.
  if (n % 8 !== 0) values[len - 1] &= (1 << (n % 8)) - 1;
  return { validity: undefined, offsets: undefined, values };
}

/**
 * Appends values of one field type and produces a WIT column: the reference encoder, which the
 * compiled writers of processors and functions must match byte for byte.
 */
export class ColumnBuilder {
  /**
   * @param {string} ty field type
   * @param {number} [capacity] expected number of rows
   * @param {string} [name] field name, for messages
   */
  constructor(ty, capacity = 16, name = '') {
    if (!TYPES.has(ty)) throw new Failed(`unknown field type ${JSON.stringify(ty)}`);
    this.ty = ty;
    this.name = name;
    this.length = 0;
    const cap = Math.max(capacity, 1);
    switch (ty) {
      case 'int':
      case 'decimal2':
      case 'datetime':
        this.words = new Int32Array(cap * 2);
        break;
      case 'float':
        this.floats = new Float64Array(cap);
        break;
      case 'bool':
        this.bits = new Uint8Array(Math.ceil(cap / 8));
        break;
      case 'string':
        this.parts = [];
        break;
    }
  }

  /**
   * Appends a value. `null` and `undefined` append the type's zero value.
   *
   * @throws {RowError} for a value of the right JS type that the field cannot hold (a
   *   fraction or NaN into an int, an int beyond ±(2^53 - 1), an invalid Date)
   * @throws {Error} for a value of the wrong JS type (a plugin bug)
   */
  push(v) {
    const ty = this.ty;
    const missing = v === undefined || v === null;
    if (ty === 'int' || ty === 'decimal2' || ty === 'datetime') {
      const x = missing ? 0 : I64_OF[ty](v, this.name);
      this.grow();
      putI64(this.words, this.length, x, this.name);
      this.length++;
    } else if (ty === 'float') {
      if (!missing && typeof v !== 'number') wrongType(this.name, ty, v, 'a number');
      this.grow();
      this.floats[this.length++] = missing ? 0 : v;
    } else if (ty === 'bool') {
      if (!missing && typeof v !== 'boolean') wrongType(this.name, ty, v, 'a boolean');
      this.grow();
      const i = this.length++;
      const m = 1 << (i & 7);
      if (v === true) this.bits[i >> 3] |= m;
      else this.bits[i >> 3] &= ~m;
    } else {
      if (!missing && typeof v !== 'string') wrongType(this.name, ty, v, 'a string');
      this.parts[this.length++] = missing ? '' : v;
    }
  }

  grow() {
    const n = this.length;
    if (this.words !== undefined && n * 2 === this.words.length) {
      const w = new Int32Array(this.words.length * 2);
      w.set(this.words);
      this.words = w;
    } else if (this.floats !== undefined && n === this.floats.length) {
      const f = new Float64Array(this.floats.length * 2);
      f.set(this.floats);
      this.floats = f;
    } else if (this.bits !== undefined && n === this.bits.length * 8) {
      const b = new Uint8Array(this.bits.length * 2);
      b.set(this.bits);
      this.bits = b;
    }
  }

  /** Drops values from row `n` on (a rolled-back row). */
  truncate(n) {
    if (n < this.length) {
      this.length = n;
      if (this.parts !== undefined) this.parts.length = n;
    }
  }

  /** The WIT column of the values appended so far. */
  finish() {
    const n = this.length;
    if (this.words !== undefined) return i64Column(this.words, n);
    if (this.floats !== undefined) return f64Column(this.floats, n);
    if (this.bits !== undefined) return boolColumn(this.bits, n);
    return encodeStrings(this.parts, n);
  }
}

/** Concatenated UTF-8 and n + 1 offsets, with one native encode for ASCII text. */
function encodeStrings(parts, n) {
  if (parts.length > n) parts.length = n;
  const offsets = new Uint32Array(n + 1);
  const joined = parts.join('');
  const bytes = ENCODER.encode(joined);
  if (bytes.length === joined.length) {
    let pos = 0;
    for (let i = 0; i < n; i++) {
      pos += parts[i].length;
      offsets[i + 1] = pos;
    }
    return { validity: undefined, offsets: new Uint8Array(offsets.buffer), values: bytes };
  }
  // Not ASCII: encode row by row into one buffer to learn each row's byte length.
  const out = new Uint8Array(bytes.length);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    pos += ENCODER.encodeInto(parts[i], out.subarray(pos)).written;
    offsets[i + 1] = pos;
  }
  return { validity: undefined, offsets: new Uint8Array(offsets.buffer), values: out.subarray(0, pos) };
}

/** A WIT column holding `values` (JS values as described at the top of this file). */
export function encodeColumn(ty, values, name = '') {
  const b = new ColumnBuilder(ty, values.length, name);
  for (const v of values) b.push(v);
  return b.finish();
}

/**
 * A WIT batch of `rows` (objects keyed by field name, or arrays in schema order) for a schema
 * (`[{name, ty}]`).
 */
export function encodeBatch(schema, rows) {
  const builders = schema.map((f) => new ColumnBuilder(f.ty, rows.length, f.name));
  for (const r of rows) {
    schema.forEach((f, j) => builders[j].push(Array.isArray(r) ? r[j] : r[f.name]));
  }
  return { rowCount: rows.length, columns: builders.map((b) => b.finish()) };
}

/** `n` bits as booleans, from a bitmap. */
export function bitsOf(bytes, n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = ((bytes[i >> 3] >> (i & 7)) & 1) === 1;
  return out;
}

/** A Date from microseconds since the epoch (a Date keeps milliseconds: the rest is dropped). */
export function dateOf(micros) {
  return new Date(Math.floor(micros / 1000));
}

/** Microseconds since the epoch of a Date. */
export function microsOf(date) {
  return date.getTime() * 1000;
}

// ---------------------------------------------------------------------------------------------
// Generated batch loops
//
// StarlingMonkey interprets JS (no JIT inside Wasm). Measured in a component: a JS call costs
// about 0.3 µs, a typed-array store 0.15 µs, a native call such as `substring` 1.5 µs, a simple
// operation on locals 50 ns. A per-value `column.get(i)` and `builder.push(v)` therefore cost
// microseconds, and variables captured from an enclosing scope are slower than locals. So, for
// each binding, the code below generates the whole batch loop as one flat function: every
// read and write inline, field names as constants, everything in locals. That took the
// benchmark's three-field map from 34 to about 6 µs per row. The generated code must behave
// exactly as the reference codec above (the tests run both and compare their bytes) and calls
// it for the rare cases (validity bitmaps, non-ASCII text, numbers beyond ±2^53).

const CODEGEN_AVAILABLE = (() => {
  try {
    return new Function('return 1')() === 1;
  } catch {
    return false;
  }
})();
let codegen = CODEGEN_AVAILABLE;

/** Helpers that generated code calls on its slow paths. */
const HELPERS = Object.freeze({
  intOf,
  decimalOf,
  datetimeOf,
  putI64,
  wrongType,
  toHundredths,
  i64Column,
  f64Column,
  boolColumn,
  encodeStrings,
});

const lit = JSON.stringify;
const I64_CHECK = { int: 'intOf', decimal2: 'decimalOf', datetime: 'datetimeOf' };

/**
 * Code that reads fields: `decls` (variables), `bind` (statements using `cols`, the decoded
 * columns) and `read(j)` (statements setting `x` to column j's value at row `i`).
 */
function readerCode(fields, bigint) {
  const decls = [];
  const bind = [];
  const reads = [];
  fields.forEach((f, j) => {
    decls.push(`c${j}`);
    bind.push(`c${j} = cols[${j}];`);
    if (f.ty === 'int' && bigint) {
      decls.push(`v${j}`);
      bind.push(`v${j} = c${j}.values;`);
      reads.push(`x = v${j}[i];`);
    } else if (f.ty === 'int' || f.ty === 'decimal2' || f.ty === 'datetime') {
      decls.push(`w${j}`);
      bind.push(`w${j} = c${j}.words;`);
      // Beyond ±2^53 (±2^51 for decimal2) the column's own method checks that the Number is
      // exact, or throws.
      const [min, max] = f.ty === 'decimal2' ? [DEC_SAFE_MIN, DEC_SAFE_MAX] : [HI_SAFE_MIN, HI_SAFE_MAX];
      reads.push(
        `hi = w${j}[2 * i + 1]; ` +
          `x = hi > ${max} || hi < ${min} ? c${j}.number(i) : hi * 4294967296 + (w${j}[2 * i] >>> 0);` +
          (f.ty === 'decimal2' ? ' x = x / 100;' : ''),
      );
    } else if (f.ty === 'float') {
      decls.push(`f${j}`);
      bind.push(`f${j} = c${j}.values;`);
      reads.push(`x = f${j}[i];`);
    } else if (f.ty === 'bool') {
      decls.push(`b${j}`);
      bind.push(`b${j} = c${j}.values;`);
      reads.push(`x = ((b${j}[i >> 3] >> (i & 7)) & 1) === 1;`);
    } else {
      decls.push(`o${j}`, `t${j}`);
      bind.push(`o${j} = c${j}.offsets; t${j} = c${j}.text;`);
      reads.push(`x = t${j} !== undefined ? t${j}.substring(o${j}[i], o${j}[i + 1]) : c${j}.get(i);`);
    }
  });
  return { decls, bind, read: (j) => reads[j] };
}

/**
 * Code that writes output values: `decls`, `alloc` (statements sizing the arrays for `c`
 * rows), `grow` (doubling them to `c`), `write(K)` (statements storing `v` at row `k` of
 * output K) and `finish` (per output, the expression of its WIT column for a row count).
 */
function writerCode(outputs) {
  const decls = [];
  const alloc = [];
  const grow = [];
  const writes = [];
  const finish = [];
  outputs.forEach((f, K) => {
    const name = lit(f.name);
    const zero = `v === undefined || v === null`;
    if (f.ty === 'int' || f.ty === 'decimal2' || f.ty === 'datetime') {
      const W = `W${K}`;
      decls.push(W);
      alloc.push(`${W} = new Int32Array(c * 2);`);
      grow.push(`{ const a = new Int32Array(c * 2); a.set(${W}); ${W} = a; }`);
      finish.push((n) => `h.i64Column(${W}, ${n})`);
      const store = `${W}[2 * k] = r; ${W}[2 * k + 1] = r >> 31;`;
      const slow = `else if (${zero}) { ${W}[2 * k] = 0; ${W}[2 * k + 1] = 0; } else h.putI64(${W}, k, h.${I64_CHECK[f.ty]}(v, ${name}), ${name});`;
      if (f.ty === 'int') {
        writes.push(`if (typeof v === 'number' && (v | 0) === v) { r = v; ${store} } ${slow}`);
      } else if (f.ty === 'decimal2') {
        // Half away from zero by truncation, within int32 hundredths; a product within 1e-7
        // of a half takes the reference rounding (see toHundredths).
        writes.push(
          `if (typeof v === 'number' && v > -21474830 && v < 21474830) { x = v * 100; fr = x - (x | 0); if (fr < 0) fr = -fr; ` +
            `r = fr > 0.4999999 && fr < 0.5000001 ? h.toHundredths(v) : (x < 0 ? x - 0.5 : x + 0.5) | 0; ${store} } ${slow}`,
        );
      } else {
        writes.push(
          `if (typeof v === 'number' && v % 1 === 0 && v < 9223372036854775808 && v >= -9223372036854775808) { ` +
            `hi = Math.floor(v / 4294967296); ${W}[2 * k] = v - hi * 4294967296; ${W}[2 * k + 1] = hi; } ${slow}`,
        );
      }
    } else if (f.ty === 'float') {
      const F = `F${K}`;
      decls.push(F);
      alloc.push(`${F} = new Float64Array(c);`);
      grow.push(`{ const a = new Float64Array(c); a.set(${F}); ${F} = a; }`);
      finish.push((n) => `h.f64Column(${F}, ${n})`);
      writes.push(
        `if (typeof v === 'number') ${F}[k] = v; else if (${zero}) ${F}[k] = 0; else h.wrongType(${name}, 'float', v, 'a number');`,
      );
    } else if (f.ty === 'bool') {
      const B = `B${K}`;
      decls.push(B);
      alloc.push(`${B} = new Uint8Array(Math.ceil(c / 8));`);
      grow.push(`{ const a = new Uint8Array(Math.ceil(c / 8)); a.set(${B}); ${B} = a; }`);
      finish.push((n) => `h.boolColumn(${B}, ${n})`);
      writes.push(
        `if (v === true) ${B}[k >> 3] |= 1 << (k & 7); else if (v === false || ${zero}) ${B}[k >> 3] &= ~(1 << (k & 7)); ` +
          `else h.wrongType(${name}, 'bool', v, 'a boolean');`,
      );
    } else {
      const S = `S${K}`;
      decls.push(S);
      alloc.push(`${S} = [];`);
      finish.push((n) => `h.encodeStrings(${S}, ${n})`);
      writes.push(
        `if (typeof v === 'string') ${S}[k] = v; else if (${zero}) ${S}[k] = ''; else h.wrongType(${name}, 'string', v, 'a string');`,
      );
    }
  });
  return { decls, alloc, grow, write: (K) => writes[K], finish };
}

function declare(names) {
  return names.length > 0 ? `let ${names.join(', ')};` : '';
}

/** Reads the fields of row `i` into `row` with the reference decoder: `fill(cols, row, i)`. */
function referenceFill(fields) {
  const keys = fields.map((f) => f.name);
  return (cols, row, i) => {
    for (let j = 0; j < keys.length; j++) row[keys[j]] = cols[j].get(i);
  };
}

/**
 * Writes output rows with the reference encoder: `reset(capacity)` once per batch,
 * `emit(obj, k)` for output row `k` (rows from `k` on are overwritten, which is how a failed
 * row is rolled back), then `finish(n)` for the WIT columns of the first `n` rows.
 */
function referenceWriter(outputs) {
  let builders = [];
  return {
    reset(c) {
      builders = outputs.map((f) => new ColumnBuilder(f.ty, c, f.name));
    },
    emit(obj, k) {
      for (let K = 0; K < outputs.length; K++) {
        builders[K].truncate(k);
        builders[K].push(obj[outputs[K].name]);
      }
    },
    finish(n) {
      return builders.map((b) => {
        b.truncate(n);
        return b.finish();
      });
    },
  };
}

/** What generated batch loops call on their slow paths, beyond HELPERS. */
const LOOP_HELPERS = Object.freeze({
  ...HELPERS,
  notAnOutputRow,
  badFilter(res) {
    throw new Misuse(`filter must return true (keep the row) or false (drop it), not ${typeName(res)}`);
  },
  items(res) {
    if (Array.isArray(res)) return res;
    if (res === undefined || typeof res[Symbol.iterator] !== 'function') {
      throw new Misuse(`flatMap must return an array of output rows (or null), not ${typeName(res)}`);
    }
    return Array.from(res);
  },
  rowFailed,
});

/**
 * The whole batch loop of a processor as one generated function, `run(cols, n, fn, rowErrors)`,
 * with every read and write inline: it behaves as `ProcessorRuntime.processReference`.
 */
function compileProcess(code, reads, outputs, bigint) {
  const r = readerCode(reads, bigint);
  const w = writerCode(outputs);
  const fill = reads.map((f, j) => `${r.read(j)} row[${lit(f.name)}] = x;`).join('\n      ');
  const write = outputs.map((f, K) => `v = obj[${lit(f.name)}]; ${w.write(K)}`).join('\n        ');
  const checkObj = `if (obj === null || typeof obj !== 'object') h.notAnOutputRow(obj);`;
  const body = {
    [MAP]: `obj = res; ${checkObj}
        ${write}
        k++;`,
    [FILTER]: `if (res === true) { keep[i >> 3] |= 1 << (i & 7); kept++; } else if (res !== false) h.badFilter(res);`,
    [FILTER_MAP]: `if (res !== null && res !== false) {
        obj = res; ${checkObj}
        ${write}
        k++;
        keep[i >> 3] |= 1 << (i & 7);
      }`,
    [FLAT_MAP]: `if (res !== null) {
        const items = h.items(res);
        for (let m = 0; m < items.length; m++) {
          obj = items[m]; ${checkObj}
          if (k >= cap) {
            c = cap * 2;
            ${w.grow.join('\n            ')}
            const p = new Uint32Array(c); p.set(parents); parents = p;
            cap = c;
          }
          ${write}
          parents[k++] = i;
        }
      }`,
  }[code];
  const filtering = code === FILTER || code === FILTER_MAP;
  // One flat function: every variable a local, which the interpreter reads fastest.
  const run = new Function(
    'h',
    'cols',
    'n',
    'fn',
    'rowErrors',
    `${declare([...r.decls, ...w.decls])}
  ${r.bind.join('\n  ')}
  let c = Math.max(${code === FLAT_MAP ? 'n * 2' : 'n'}, 1);
  let cap = c;
  ${w.alloc.join('\n  ')}
  const keep = ${filtering ? 'new Uint8Array(Math.ceil(n / 8))' : 'undefined'};
  let parents = ${code === FLAT_MAP ? 'new Uint32Array(c)' : 'undefined'};
  const row = {};
  let k = 0, kept = 0, start = 0, hi, x, v, r, fr, res, obj;
  for (let i = 0; i < n; i++) {
    start = k;
    try {
      ${fill}
      res = fn(row);
      ${body}
    } catch (e) {
      k = start;
      h.rowFailed(e, i, rowErrors);
    }
  }
  return {
    rows: ${code === FILTER ? 'kept' : 'k'},
    columns: [${w.finish.map((f) => f('k')).join(', ')}],
    keep,
    parents: parents === undefined ? undefined : new Uint8Array(parents.buffer, 0, k * 4),
  };`,
  );
  return (cols, n, fn, rowErrors) => run(LOOP_HELPERS, cols, n, fn, rowErrors);
}

/**
 * Evaluates a function over `n` rows of decoded argument columns: `run(fn, cols, n)` returns
 * the result column. An exception is rethrown as `{row, error}`.
 */
function compileCall(params, returns, bigint) {
  const reference = (fn, cols, n) => {
    const out = new ColumnBuilder(returns, n);
    const argv = new Array(cols.length);
    for (let i = 0; i < n; i++) {
      try {
        for (let j = 0; j < cols.length; j++) argv[j] = cols[j].get(i);
        out.push(fn(...argv));
      } catch (error) {
        throw { row: i, error };
      }
    }
    return out.finish();
  };
  if (!codegen) return reference;
  const fields = params.map((ty, j) => ({ name: `argument ${j + 1}`, ty }));
  const r = readerCode(fields, bigint);
  const w = writerCode([{ name: '', ty: returns }]);
  const args = params.map((_, j) => `a${j}`);
  const reads = params.map((_, j) => `${r.read(j)} a${j} = x;`).join(' ');
  const run = new Function(
    'h',
    'fn',
    'cols',
    'n',
    `${declare([...r.decls, ...w.decls])}
  ${r.bind.join(' ')}
  const c = Math.max(n, 1);
  ${w.alloc.join(' ')}
  let i = 0, k = 0, hi, x, v, r, fr${args.map((a) => `, ${a}`).join('')};
  try {
    for (; i < n; i++) {
      k = i;
      ${reads}
      v = fn(${args.join(', ')});
      ${w.write(0)}
    }
  } catch (error) {
    throw { row: i, error };
  }
  return ${w.finish[0]('n')};`,
  );
  return (fn, cols, n) =>
    cols.some((c) => c.validity !== undefined) ? reference(fn, cols, n) : run(HELPERS, fn, cols, n);
}

/** Switches code generation off (or back on, where available): tests run both paths. */
export function __setCodegen(on) {
  codegen = on && CODEGEN_AVAILABLE;
}

// ---------------------------------------------------------------------------------------------
// Logging and counters

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/**
 * The host's `log`, `log-enabled` and `counter-add`: the component's import once its exports
 * are bound, a recorder inside `testing`, else nothing (logs then go to the console).
 */
let host = null;

function emitLog(level, message) {
  if (host !== null) host.log(level, String(message));
  else if (typeof console !== 'undefined') console.error(`[${level}] ${message}`);
}

/**
 * Log lines to the host's log (which adds keyspace, run, node and batch). Pass a function to
 * format only when the level is kept: `log.debug(() => expensive())`.
 */
export const log = Object.freeze(
  Object.fromEntries(
    LEVELS.map((level) => [
      level,
      (message) => {
        if (typeof message === 'function') {
          if (!logEnabled(level)) return;
          message = message();
        }
        emitLog(level, message);
      },
    ]),
  ),
);

/** Whether the host keeps log lines of `level` ('trace' ... 'error'). */
export function logEnabled(level) {
  return host === null || host.logEnabled(level);
}

/** Adds `delta` (a non-negative integer) to a counter reported with the batch's statistics. */
export function counterAdd(name, delta = 1) {
  const d =
    typeof delta === 'bigint' ? delta : BigInt(Number.isFinite(delta) ? Math.max(0, Math.trunc(delta)) : 0);
  if (host !== null) host.counterAdd(String(name), d);
}

// ---------------------------------------------------------------------------------------------
// Processors

const NAME_RE = /^[a-z0-9_-]+$/;
const FUNCTION_NAME_RE = /^[a-z_][a-z0-9_]*$/;
const SEMVER_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Defines a processor plugin; `export default` the result from `index.js`.
 *
 * @param {object} def
 * @param {string} def.name `[a-z0-9_-]+`, what scripts write in `custom_proc_type`
 * @param {string} def.version semver
 * @param {'map'|'filter'|'filter-map'|'flat-map'} def.kind
 * @param {string} [def.description] one line for listings
 * @param {object|string} [def.paramsSchema] JSON Schema of the node's `p` section
 * @param {boolean} [def.bigint] read int fields as BigInt instead of Number
 * @param {(ctx: OpenContext) => object} def.open parses params, checks the input and returns
 *   `{reads, outputs, <row function>, endBatch?}`
 */
export function processor(def) {
  if (def === null || typeof def !== 'object') throw new TypeError('processor() takes an object');
  const problems = [];
  if (typeof def.name !== 'string' || !NAME_RE.test(def.name)) {
    problems.push(`name must match [a-z0-9_-]+ (got ${JSON.stringify(def.name)})`);
  }
  if (typeof def.version !== 'string' || !SEMVER_RE.test(def.version)) {
    problems.push(`version must be semver such as "0.1.0" (got ${JSON.stringify(def.version)})`);
  }
  if (!Object.hasOwn(KIND_FUNCTION, def.kind)) {
    problems.push(`kind must be one of ${Object.keys(KIND_FUNCTION).join(', ')} (got ${JSON.stringify(def.kind)})`);
  }
  if (def.description !== undefined && typeof def.description !== 'string') {
    problems.push('description must be a string');
  }
  if (typeof def.open !== 'function') problems.push('open must be a function (ctx) => binding');
  let paramsSchema;
  if (def.paramsSchema !== undefined && def.paramsSchema !== null) {
    paramsSchema = typeof def.paramsSchema === 'string' ? def.paramsSchema : JSON.stringify(def.paramsSchema);
  }
  if (problems.length > 0) throw new TypeError(`processor(): ${problems.join('; ')}`);
  return Object.freeze({
    vesselPlugin: 'processor',
    info: Object.freeze({
      name: def.name,
      version: def.version,
      kind: def.kind,
      description: def.description ?? '',
      paramsSchema,
    }),
    bigint: def.bigint === true,
    open: def.open,
  });
}

/** What `open` sees: the node's parameters, the input schema and where it runs. */
class OpenContext {
  constructor(kind, args) {
    let params;
    try {
      params = JSON.parse(args.paramsJson === '' ? '{}' : args.paramsJson);
    } catch (e) {
      throw new InvalidParams(`params are not valid JSON: ${e.message}`);
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      throw new InvalidParams("params must be a JSON object (the node's `p` section)");
    }
    /** The node's `p` section, parsed (always an object). */
    this.params = params;
    /** The same as JSON text. */
    this.paramsJson = args.paramsJson;
    /** Fields of the table the node reads (`r.*`): `[{name, ty}]` in table order. */
    this.inputSchema = args.inputSchema;
    this.keyspace = args.keyspace;
    this.runId = args.runId;
    this.nodeName = args.nodeName;
    this.kind = kind;
  }

  /** The input field `name` (`{name, ty}`); throws SchemaMismatch listing the fields there are. */
  field(name) {
    const f = this.inputSchema.find((x) => x.name === name);
    if (f === undefined) {
      throw new SchemaMismatch(`the input has no field \`${name}\`; it has ${names(this.inputSchema)}`);
    }
    return f;
  }

  /** Checks that the input has `name` of type `ty`; throws SchemaMismatch otherwise. */
  require(name, ty) {
    const f = this.field(name);
    if (f.ty !== ty) throw new SchemaMismatch(`input field \`${name}\` is ${article(f.ty)}, expected ${article(ty)}`);
  }

  /** A required parameter; throws InvalidParams when it is missing or not of `type` (typeof). */
  param(name, type) {
    const v = this.params[name];
    if (v === undefined) throw new InvalidParams(`missing parameter \`${name}\``);
    if (type !== undefined && typeof v !== type) {
      throw new InvalidParams(`parameter \`${name}\` must be ${type === 'object' ? 'an object' : `a ${type}`}, got ${typeName(v)}`);
    }
    return v;
  }
}

function names(schema) {
  return schema.length === 0 ? 'no fields' : schema.map((f) => f.name).join(', ');
}

function article(ty) {
  return `${ty === 'int' ? 'an' : 'a'} ${ty}`;
}

/** Outputs as `[{name, ty}]`, from `{name: ty}` or `[[name, ty]]` or `[{name, ty}]`. */
function outputFields(outputs) {
  if (outputs === undefined || outputs === null) return [];
  const entries = Array.isArray(outputs)
    ? outputs.map((o) => (Array.isArray(o) ? { name: o[0], ty: o[1] } : { name: o?.name, ty: o?.ty }))
    : Object.entries(outputs).map(([name, ty]) => ({ name, ty }));
  const seen = new Set();
  for (const f of entries) {
    if (typeof f.name !== 'string' || f.name === '') throw new Failed('an output field has no name');
    if (!TYPES.has(f.ty)) {
      throw new Failed(`output \`${f.name}\` has type ${JSON.stringify(f.ty)}; use one of ${[...TYPES].join(', ')}`);
    }
    if (seen.has(f.name)) throw new Failed(`output field \`${f.name}\` is declared twice`);
    seen.add(f.name);
  }
  return entries;
}

/** One open processor: the checked binding and the per-batch loop. */
class ProcessorRuntime {
  constructor(desc, args) {
    const kind = desc.info.kind;
    const ctx = new OpenContext(kind, args);
    const b = desc.open(ctx);
    if (b === null || typeof b !== 'object') {
      throw new Failed('open() must return {reads, outputs, ...} (the binding)');
    }
    const fnName = KIND_FUNCTION[kind];
    if (typeof b[fnName] !== 'function') {
      throw new Failed(`open() of a ${kind} plugin must return a \`${fnName}\` function in its binding`);
    }
    const reads = [];
    for (const name of b.reads ?? []) {
      if (typeof name !== 'string') throw new Failed('reads must be a list of field names');
      if (reads.some((f) => f.name === name)) continue;
      const f = ctx.inputSchema.find((x) => x.name === name);
      if (f === undefined) {
        throw new SchemaMismatch(`cannot read \`${name}\`: the input has no field \`${name}\`; it has ${names(ctx.inputSchema)}`);
      }
      reads.push({ name: f.name, ty: f.ty });
    }
    const outputs = outputFields(b.outputs);
    if (kind === 'filter' && outputs.length > 0) {
      throw new Failed(
        `a filter produces no output fields, but the binding declares ${names(outputs)}; use kind 'filter-map'`,
      );
    }
    this.kind = kind;
    this.bigint = desc.bigint;
    this.reads = reads;
    this.outputs = outputs;
    this.rowFn = b[fnName];
    this.endBatch = typeof b.endBatch === 'function' ? b.endBatch : undefined;
    this.fill = referenceFill(reads);
    this.writer = referenceWriter(outputs);
    this.run = codegen ? compileProcess(KIND_CODE[kind], reads, outputs, this.bigint) : undefined;
  }

  binding() {
    return {
      outputSchema: this.outputs.map((f) => ({ name: f.name, ty: f.ty })),
      reads: this.reads.map((f) => f.name),
    };
  }

  /** Processes one WIT batch; returns the WIT batch-result. */
  process(batch) {
    const cols = decodeBatch(this.reads, batch, { bigint: this.bigint });
    const rowErrors = [];
    // Validity bitmaps (which the host does not send today) are read by the reference path.
    const res =
      this.run !== undefined && !cols.some((c) => c.validity !== undefined)
        ? this.run(cols, batch.rowCount, this.rowFn, rowErrors)
        : this.processReference(cols, batch.rowCount, rowErrors);
    if (this.endBatch !== undefined) this.endBatch();
    return {
      output: { rowCount: res.rows, columns: res.columns },
      keep: res.keep,
      parents: res.parents,
      rowErrors,
    };
  }

  /** The batch loop with the reference codec: what the generated loop must match. */
  processReference(cols, n, rowErrors) {
    const code = KIND_CODE[this.kind];
    const fill = this.fill;
    const writer = this.writer;
    writer.reset(code === FLAT_MAP ? n * 2 : n);
    const keep = code === FILTER || code === FILTER_MAP ? new Uint8Array(Math.ceil(n / 8)) : undefined;
    let parents = code === FLAT_MAP ? new Uint32Array(Math.max(n * 2, 16)) : undefined;
    const fn = this.rowFn;
    // One row object, refilled for every row (like the Rust SDK's borrowed `Row`): a plugin that
    // keeps rows must copy them.
    const row = {};
    // Output rows so far; a row that fails resets it, and the writer overwrites from there.
    let k = 0;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const start = k;
      try {
        fill(cols, row, i);
        const res = fn(row);
        if (code === MAP) {
          if (res === null || typeof res !== 'object') notAnOutputRow(res);
          writer.emit(res, k);
          k++;
        } else if (code === FILTER) {
          if (res === true) {
            keep[i >> 3] |= 1 << (i & 7);
            kept++;
          } else if (res !== false) {
            LOOP_HELPERS.badFilter(res);
          }
        } else if (code === FILTER_MAP) {
          if (res !== null && res !== false) {
            if (typeof res !== 'object') notAnOutputRow(res);
            writer.emit(res, k);
            k++;
            keep[i >> 3] |= 1 << (i & 7);
          }
        } else if (res !== null) {
          const items = LOOP_HELPERS.items(res);
          for (let m = 0; m < items.length; m++) {
            const o = items[m];
            if (o === null || typeof o !== 'object') notAnOutputRow(o);
            writer.emit(o, k);
            if (k === parents.length) {
              const p = new Uint32Array(parents.length * 2);
              p.set(parents);
              parents = p;
            }
            parents[k++] = i;
          }
        }
      } catch (e) {
        k = start;
        rowFailed(e, i, rowErrors);
      }
    }
    return {
      rows: code === FILTER ? kept : k,
      columns: writer.finish(k),
      keep,
      parents: parents === undefined ? undefined : new Uint8Array(parents.buffer, 0, k * 4),
    };
  }
}

const MAP = 0;
const FILTER = 1;
const FILTER_MAP = 2;
const FLAT_MAP = 3;
const KIND_CODE = { map: MAP, filter: FILTER, 'filter-map': FILTER_MAP, 'flat-map': FLAT_MAP };

function notAnOutputRow(v) {
  throw new Misuse(`an output row must be an object with the output fields, not ${typeName(v)}`);
}

/**
 * Handles what a row threw: a RowError (from the row function, reading an input value or
 * writing an output value) is recorded and the batch goes on; anything else fails the batch.
 */
function rowFailed(e, i, rowErrors) {
  if (e instanceof RowError) rowErrors.push({ row: i, field: e.field, message: e.message });
  else if (e instanceof PluginError) throw e;
  else if (e instanceof Misuse) throw new Failed(`plugin bug at input row ${i}: ${e.message}`);
  else throw new Failed(`error at input row ${i}: ${describeError(e)}`);
}

// ---------------------------------------------------------------------------------------------
// Functions

/**
 * Defines a function plugin; `export default` the result from `index.js`.
 *
 * ```js
 * export default functions({
 *   upper: { params: ['string'], returns: 'string', description: 'Upper case.', fn: (s) => s.toUpperCase() },
 * });
 * ```
 *
 * Each function gets one JS value per parameter and returns one of the result type; throwing
 * fails the call (and with it the batch). Set `bigint: true` in `options` to pass int values
 * as BigInt.
 */
export function functions(defs, options = {}) {
  if (defs === null || typeof defs !== 'object') throw new TypeError('functions() takes an object');
  const list = [];
  const problems = [];
  for (const [name, d] of Object.entries(defs)) {
    if (!FUNCTION_NAME_RE.test(name)) problems.push(`\`${name}\`: names must match [a-z_][a-z0-9_]*`);
    if (d === null || typeof d !== 'object') {
      problems.push(`\`${name}\`: expected {params, returns, fn}`);
      continue;
    }
    if (!Array.isArray(d.params) || d.params.some((t) => !TYPES.has(t))) {
      problems.push(`\`${name}\`: params must be a list of field types (${[...TYPES].join(', ')})`);
    }
    if (!TYPES.has(d.returns)) problems.push(`\`${name}\`: returns must be a field type`);
    if (typeof d.fn !== 'function') problems.push(`\`${name}\`: fn must be a function`);
    list.push({ name, params: d.params, returns: d.returns, description: d.description ?? '', fn: d.fn });
  }
  if (problems.length > 0) throw new TypeError(`functions(): ${problems.join('; ')}`);
  return Object.freeze({ vesselPlugin: 'functions', list, bigint: options.bigint === true });
}

function callFunction(desc, name, args, rows) {
  const f = desc.list.find((x) => x.name === name);
  if (f === undefined) {
    throw new Failed(`no function \`${name}\` in this component; it has ${desc.list.map((x) => x.name).join(', ')}`);
  }
  if (args.length !== f.params.length) {
    throw new Failed(`function \`${name}\` takes ${f.params.length} arguments, the call passed ${args.length}`);
  }
  let cols;
  try {
    cols = f.params.map((ty, k) => decodeColumn(ty, args[k], rows, { name: `argument ${k + 1}`, bigint: desc.bigint }));
  } catch (e) {
    throw new Failed(`function \`${name}\`: ${e.message}`);
  }
  if (f.run === undefined || f.runCodegen !== codegen) {
    f.run = compileCall(f.params, f.returns, desc.bigint);
    f.runCodegen = codegen;
  }
  try {
    return f.run(f.fn, cols, rows);
  } catch (e) {
    const { row, error } = e;
    throw new Failed(`function \`${name}\`, row ${row}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Component exports (used by the entry module `vessel plugin build` generates)

function ok(val) {
  return { tag: 'ok', val };
}

function err(e) {
  return { tag: 'err', val: wireError(e) };
}

function checkDescriptor(desc, want) {
  if (desc === null || typeof desc !== 'object' || desc.vesselPlugin !== want) {
    const call = want === 'processor' ? 'processor({...})' : 'functions({...})';
    throw new TypeError(`index.js must \`export default ${call}\` (from ./vessel-plugin.js)`);
  }
}

/**
 * The `processor` interface export for a descriptor made by `processor()`, calling `hostApi`
 * (the component's `vessel:plugin/host` import) for logs and counters.
 */
export function processorExport(desc, hostApi) {
  checkDescriptor(desc, 'processor');
  if (hostApi !== undefined) host = hostApi;
  class Instance {
    constructor(rt) {
      this.rt = rt;
    }

    static open(args) {
      try {
        return ok(new Instance(new ProcessorRuntime(desc, args)));
      } catch (e) {
        return err(e);
      }
    }

    binding() {
      return this.rt.binding();
    }

    process(batch) {
      try {
        return ok(this.rt.process(batch));
      } catch (e) {
        return err(e);
      }
    }
  }
  return {
    describe() {
      return { ...desc.info };
    },
    Instance,
  };
}

/** The `functions` interface export for a descriptor made by `functions()`. */
export function functionsExport(desc, hostApi) {
  checkDescriptor(desc, 'functions');
  if (hostApi !== undefined) host = hostApi;
  return {
    listFunctions() {
      return desc.list.map((f) => ({ name: f.name, params: [...f.params], returns: f.returns, description: f.description }));
    },
    call(name, args, rows) {
      try {
        return ok(callFunction(desc, name, args, rows));
      } catch (e) {
        return err(e);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Testing under Node, through the same codec the component uses

function schemaOf(input) {
  if (Array.isArray(input)) return input.map((f) => (Array.isArray(f) ? { name: f[0], ty: f[1] } : f));
  return Object.entries(input).map(([name, ty]) => ({ name, ty }));
}

function rowsOf(schema, batch, bigint) {
  const cols = decodeBatch(schema, batch, { bigint });
  const out = [];
  for (let i = 0; i < batch.rowCount; i++) {
    const r = {};
    schema.forEach((f, j) => (r[f.name] = cols[j].get(i)));
    out.push(r);
  }
  return out;
}

function unwrap(res) {
  if (res.tag === 'ok') return res.val;
  const { tag, val } = res.val;
  const E = { 'invalid-params': InvalidParams, 'schema-mismatch': SchemaMismatch, failed: Failed }[tag];
  throw new E(val);
}

/**
 * Runs plugins under Node without Wasm, through the codec and exports the component uses.
 */
export const testing = Object.freeze({
  /**
   * Opens a processor as the host would. `input` is the input schema (`{name: ty}` or
   * `[[name, ty]]`). Throws the PluginError `open` reports.
   */
  open(desc, { params = {}, input = {}, keyspace = 'test', runId = 1, nodeName = 'test_node' } = {}) {
    const exp = processorExport(desc);
    const inputSchema = schemaOf(input);
    const inst = unwrap(
      exp.Instance.open({
        paramsJson: typeof params === 'string' ? params : JSON.stringify(params),
        inputSchema,
        keyspace,
        runId,
        nodeName,
      }),
    );
    const binding = inst.binding();
    const reads = binding.reads.map((name) => inputSchema.find((f) => f.name === name));
    const logs = [];
    const counters = {};
    const recorder = {
      log: (level, message) => logs.push({ level, message }),
      logEnabled: () => true,
      counterAdd: (name, delta) => (counters[name] = (counters[name] ?? 0n) + delta),
    };
    return {
      binding,
      logs,
      counters,
      /**
       * Processes rows (objects keyed by input field name; only the read fields are sent).
       * Returns `{rows, keep, parents, rowErrors}` with output rows as objects.
       */
      process(rows) {
        const saved = host;
        host = recorder;
        try {
          const res = unwrap(inst.process(encodeBatch(reads, rows)));
          return {
            rows: rowsOf(binding.outputSchema, res.output, desc.bigint),
            keep: res.keep === undefined ? undefined : bitsOf(res.keep, rows.length),
            parents: res.parents === undefined ? undefined : Array.from(new Uint32Array(res.parents.slice().buffer)),
            rowErrors: res.rowErrors,
          };
        } finally {
          host = saved;
        }
      },
    };
  },

  /** Calls function `name` of a `functions()` descriptor over rows of arguments; returns the results. */
  call(desc, name, argRows) {
    const exp = functionsExport(desc);
    const f = desc.list.find((x) => x.name === name);
    const types = f === undefined ? [] : f.params;
    const args = types.map((ty, k) => encodeColumn(ty, argRows.map((r) => r[k])));
    const col = unwrap(exp.call(name, args, argRows.length));
    const out = decodeColumn(f.returns, col, argRows.length, { bigint: desc.bigint });
    return Array.from({ length: argRows.length }, (_, i) => out.get(i));
  },
});
