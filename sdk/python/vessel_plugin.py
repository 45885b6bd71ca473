"""The Python SDK for Vessel processor plugins built with componentize-py.

Vessel runs a plugin as a WebAssembly component of the `vessel:plugin@0.1.0` package
(`wit/`). A batch crosses into the component once per call as Arrow-layout column buffers
(`wit/types.wit`); this module turns them into typed column views and row views, runs the
plugin's per-row logic, and encodes what it emits back into buffers. It is pure Python: the
codec, the runtime and the test harness work on plain CPython too, and the export glue is
only active inside a component (where componentize-py provides the `wit_world` bindings).

A plugin is a subclass of `Processor`:

    import vessel_plugin as vp

    class AddVat(vp.Processor):
        name = "add-vat"
        version = "0.1.0"
        kind = vp.MAP

        def open(self, ctx):
            ctx.require("price", vp.DECIMAL2)
            self.factor = 1 + vp.Decimal(ctx.params["vat_percent"]) / 100
            return vp.Binding(reads=["price"], outputs=[("price_with_vat", vp.DECIMAL2)])

        def process_row(self, row, emit):
            emit["price_with_vat"] = row["price"] * self.factor

    Processor, Instance = vp.export(AddVat)

or, for one function over a row, a decorator that makes that class:

    @vp.map_rows(name="add-vat", reads=["price"], outputs={"price_with_vat": vp.DECIMAL2})
    def add_vat(row, ctx):
        return {"price_with_vat": row["price"] * vp.Decimal("1.2")}

    Processor, Instance = vp.export(add_vat)

componentize-py looks the exports up in the module given on its command line: build with
`componentize-py -d wit -w processor-plugin componentize --stub-wasi processor -o plugin.wasm`
where `processor.py` holds the two assignments above (see README.md).

Values (`row[name]`, `emit[name] = value`) by field type:

| type | Python value | raw form (`Column.raw`, `append_raw`) |
|---|---|---|
| int | int | int |
| float | float | float |
| decimal2 | decimal.Decimal, 2 places | int hundredths |
| string | str | str |
| bool | bool | bool |
| datetime | datetime.datetime, UTC | int microseconds since 1970-01-01T00:00:00Z |

Setting a decimal2 also accepts int and float (a float is taken as its shortest round-trip
decimal, then rounded to 2 places half away from zero); a float field accepts int; a
datetime accepts a naive datetime as UTC. Anything else is a plugin bug that fails the batch.

Errors, as in the Rust SDK:
* `InvalidParams` / `SchemaMismatch` raised by `open` reject the node;
* `RowError` raised by `process_row` drops that row's output (and what it emitted before
  failing) and is reported; the batch goes on;
* any other exception from `process_row` fails the batch (`failed`), naming the row.
"""

import _imp
import atexit
import json
import re
import sys
from array import array
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

try:  # Inside a component: the bindings componentize-py generates for wit/.
    from componentize_py_types import Err as _WitErr
    from wit_world import exports as _wit_exports
    from wit_world.exports import processor as _wp
    from wit_world.imports import host as _wh
    from wit_world.imports import types as _wt
except ImportError:  # Plain CPython: codec, runtime and harness only.
    _WitErr = _wit_exports = _wp = _wh = _wt = None

# componentize-py's glue imports atexit when it hands out the first resource, after the
# build-time snapshot: importing it now keeps it in sys.modules.
del atexit

__all__ = [
    "INT", "FLOAT", "DECIMAL2", "STRING", "BOOL", "DATETIME", "FIELD_TYPES",
    "MAP", "FILTER", "FILTER_MAP", "FLAT_MAP", "KINDS",
    "Decimal", "Field", "Binding", "OpenContext", "Processor", "Emit",
    "Column", "Batch", "Row", "ColumnBuilder", "BatchBuilder",
    "PluginError", "InvalidParams", "SchemaMismatch", "Failed", "RowError",
    "map_rows", "filter_rows", "filter_map_rows", "flat_map_rows", "export", "seal_imports",
    "log", "log_enabled", "counter_add", "Harness",
    "decimal_to_hundredths", "hundredths_to_decimal", "datetime_to_micros",
    "micros_to_datetime", "format_iso_millis", "parse_iso_millis",
]

# ---------------------------------------------------------------------------------------
# Field types and kinds

INT = "int"
FLOAT = "float"
DECIMAL2 = "decimal2"
STRING = "string"
BOOL = "bool"
DATETIME = "datetime"
#: Every field type, in the order of the WIT enum `field-type`.
FIELD_TYPES = (INT, FLOAT, DECIMAL2, STRING, BOOL, DATETIME)

MAP = "map"
FILTER = "filter"
FILTER_MAP = "filter-map"
FLAT_MAP = "flat-map"
#: Every kind, in the order of the WIT enum `kind`.
KINDS = (MAP, FILTER, FILTER_MAP, FLAT_MAP)

_LITTLE = sys.byteorder == "little"
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CENT = Decimal("0.01")


def _check_type(ty):
    if ty not in FIELD_TYPES:
        raise ValueError("unknown field type %r; use one of %s" % (ty, ", ".join(FIELD_TYPES)))
    return ty


class Field(tuple):
    """One named, typed field: `Field("price", DECIMAL2)`; unpacks as `(name, type)`."""

    __slots__ = ()

    def __new__(cls, name, type):
        if not isinstance(name, str) or not name:
            raise ValueError("a field name must be a non-empty string, not %r" % (name,))
        return tuple.__new__(cls, (name, _check_type(type)))

    @property
    def name(self):
        return self[0]

    @property
    def type(self):
        return self[1]

    def __repr__(self):
        return "Field(%r, %r)" % self


def _fields(spec):
    """Fields from a list of `Field`/`(name, type)` pairs or a `{name: type}` dict."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        spec = spec.items()
    return [f if isinstance(f, Field) else Field(*f) for f in spec]


# ---------------------------------------------------------------------------------------
# Errors


class PluginError(Exception):
    """A failure the plugin reports; `kind` is the WIT error case it becomes."""

    kind = "failed"

    @property
    def message(self):
        return str(self.args[0]) if self.args else self.__class__.__name__


class InvalidParams(PluginError):
    """The node's parameters (`p`) are wrong; reported when the script is loaded."""

    kind = "invalid-params"


class SchemaMismatch(PluginError):
    """The input lacks a field the plugin needs, or has it with another type."""

    kind = "schema-mismatch"


class Failed(PluginError):
    """This batch cannot be processed."""

    kind = "failed"


class RowError(Exception):
    """A problem with one row: its output is dropped, the batch goes on."""

    def __init__(self, message, field=None):
        Exception.__init__(self, message)
        self.message = str(message)
        self.field = field


# ---------------------------------------------------------------------------------------
# Value conversions


def _float_hundredths(x):
    """Hundredths of a finite float through its shortest round-trip decimal, rounded half
    away from zero: digit arithmetic on `repr` (the exact decimal), no Decimal needed."""
    text = repr(x)
    if "e" in text or "n" in text:  # exponent form (or inf/nan): let Decimal do it
        return None
    neg = text[0] == "-"
    if neg:
        text = text[1:]
    whole, _, frac = text.partition(".")
    c = int(whole + (frac[:2] + "00")[:2])
    if len(frac) > 2 and frac[2] >= "5":
        c += 1
    return -c if neg else c


def decimal_to_hundredths(value):
    """Hundredths of a decimal2 value: Decimal or int exactly; a float through its shortest
    round-trip decimal (Python's `repr`); then rounded to 2 places, half away from zero."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("%r is not a decimal2" % value)
        c = _float_hundredths(value)
        if c is not None:
            if not _I64_MIN <= c <= _I64_MAX:
                raise ValueError("%r is too large for a decimal2" % value)
            return c
        d = Decimal(repr(value))
    elif isinstance(value, bool):
        raise TypeError("a bool is not a decimal2")
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("%s is not a decimal2" % value)
        d = value
    else:
        raise TypeError("%s is not a decimal2" % type(value).__name__)
    try:
        c = int(d.quantize(_CENT, rounding=ROUND_HALF_UP).scaleb(2))
    except InvalidOperation:
        raise ValueError("%s is too large for a decimal2" % value) from None
    if not _I64_MIN <= c <= _I64_MAX:
        raise ValueError("%s is too large for a decimal2" % value)
    return c


def hundredths_to_decimal(c):
    """The Decimal (2 places) of a decimal2 in hundredths."""
    return Decimal(c).scaleb(-2)


def datetime_to_micros(value):
    """Microseconds since 1970-01-01T00:00:00Z; a naive datetime is taken as UTC."""
    if not isinstance(value, datetime):
        raise TypeError("%s is not a datetime" % type(value).__name__)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=timezone.utc)
    d = value - _EPOCH
    return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds


def micros_to_datetime(us):
    """The UTC datetime of microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def format_iso_millis(us):
    """`YYYY-MM-DDThh:mm:ss.mmm+00:00` of microseconds since the epoch (UTC; sub-millisecond
    digits are dropped), Capillaries' text form of a datetime for Python code."""
    t = micros_to_datetime(us)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00" % (
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond // 1000)


_ISO_MILLIS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-])(\d{2}):(\d{2})",
    re.ASCII)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def parse_iso_millis(s):
    """Microseconds since the epoch of `YYYY-MM-DDThh:mm:ss.mmm±hh:mm` (exactly: 3 digits of
    milliseconds and an offset with a colon, no `Z`), the format Capillaries reads back."""
    m = _ISO_MILLIS.fullmatch(s) if isinstance(s, str) else None
    try:
        if m is None:
            raise ValueError
        y, mo, d, h, mi, sec, ms, sign, oh, om = m.groups()
        h, mi, sec, oh, om = int(h), int(mi), int(sec), int(oh), int(om)
        if h > 23 or mi > 59 or sec > 59 or oh > 23 or om > 59:
            raise ValueError
        days = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_DAY
    except ValueError:
        raise ValueError("%r is not a datetime in the form YYYY-MM-DDThh:mm:ss.mmm+hh:mm" % (s,)) \
            from None
    off = oh * 3600 + om * 60
    if sign == "-":
        off = -off
    return (days * 86400 + h * 3600 + mi * 60 + sec - off) * 1000000 + int(ms) * 1000


def _to_raw(ty, value):
    """The raw form of a value of field type `ty` (see the module docs); TypeError or
    ValueError when it does not fit."""
    if ty == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an int, got %s" % type(value).__name__)
        if not _I64_MIN <= value <= _I64_MAX:
            raise ValueError("%d does not fit in a 64-bit int" % value)
        return value
    if ty == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("expected a float, got %s" % type(value).__name__)
        return float(value)
    if ty == DECIMAL2:
        return decimal_to_hundredths(value)
    if ty == STRING:
        if not isinstance(value, str):
            raise TypeError("expected a str, got %s" % type(value).__name__)
        return value
    if ty == BOOL:
        if not isinstance(value, bool):
            raise TypeError("expected a bool, got %s" % type(value).__name__)
        return value
    if ty == DATETIME:
        us = datetime_to_micros(value)
        if not _I64_MIN <= us <= _I64_MAX:
            raise ValueError("datetime out of range")
        return us
    raise ValueError("unknown field type %r" % (ty,))


def _from_raw(ty, raw):
    if ty == DECIMAL2:
        return hundredths_to_decimal(raw)
    if ty == DATETIME:
        return micros_to_datetime(raw)
    return raw


_ZERO_RAW = {INT: 0, FLOAT: 0.0, DECIMAL2: 0, STRING: "", BOOL: False,
             DATETIME: datetime_to_micros(datetime(1, 1, 1, tzinfo=timezone.utc))}


# ---------------------------------------------------------------------------------------
# Decoding: column views over the buffers of a batch


def _as_buffer(b, what):
    """The `list<u8>` as something `memoryview` takes. componentize-py 0.25.1 hands it over
    as `bytes`; a list of ints (other binding generators) is converted."""
    if isinstance(b, (bytes, bytearray, memoryview)):
        return b
    if isinstance(b, (list, tuple)):
        return bytes(b)
    raise Failed("%s is a %s, not bytes" % (what, type(b).__name__))


def _numbers(buf, code, n, what):
    """`n` little-endian numbers (`code` 'q', 'd' or 'I') of a buffer, without copying on a
    little-endian machine."""
    size = array(code).itemsize
    if len(buf) != n * size:
        raise Failed("%s holds %d bytes, expected %d for %d values"
                     % (what, len(buf), n * size, n))
    if _LITTLE:
        return memoryview(buf).cast("B").cast(code)
    a = array(code)
    a.frombytes(bytes(buf))
    a.byteswap()
    return a


def _bits(buf, n, what):
    if len(buf) != (n + 7) // 8:
        raise Failed("%s holds %d bytes, expected %d for %d rows"
                     % (what, len(buf), (n + 7) // 8, n))
    return [bool(buf[i >> 3] >> (i & 7) & 1) for i in range(n)]


class Column:
    """A decoded column of `n` rows.

    `raw` holds the values in raw form (a memoryview of i64/f64 for numbers and datetimes,
    a list of str or bool otherwise); `col[i]` gives the Python value (see the module docs),
    `None` for a null. Numbers are not copied: the view reads the batch's buffer.
    """

    __slots__ = ("name", "type", "raw", "valid")

    def __init__(self, name, type, raw, valid=None):
        self.name = name
        self.type = type
        self.raw = raw
        #: list of bool, or None when no value is null (what the host sends today)
        self.valid = valid

    @classmethod
    def decode(cls, name, type, n, values, offsets=None, validity=None):
        """Decodes one wire column of `n` rows (`values`, `offsets`, `validity` as in
        `wit/types.wit`); raises `Failed` when the buffers do not fit the type."""
        what = "column `%s`" % name
        values = _as_buffer(values, what + " values")
        if type == STRING:
            if offsets is None:
                raise Failed("%s is a string column without offsets" % what)
            offs = _numbers(_as_buffer(offsets, what + " offsets"), "I", n + 1, what + " offsets")
            data = bytes(values)
            if n and (offs[0] != 0 or offs[n] != len(data)):
                raise Failed("%s offsets do not span its %d bytes" % (what, len(data)))
            raw = []
            prev = 0
            try:
                for i in range(1, n + 1):
                    end = offs[i]
                    if end < prev:
                        raise Failed("%s offsets decrease at row %d" % (what, i - 1))
                    raw.append(data[prev:end].decode("utf-8"))
                    prev = end
            except UnicodeDecodeError as e:
                raise Failed("%s row %d is not UTF-8: %s" % (what, len(raw), e)) from None
        elif offsets is not None:
            raise Failed("%s is a %s column with offsets" % (what, type))
        elif type == BOOL:
            raw = _bits(values, n, what + " values")
        elif type == FLOAT:
            raw = _numbers(values, "d", n, what + " values")
        elif type in (INT, DECIMAL2, DATETIME):
            raw = _numbers(values, "q", n, what + " values")
        else:
            raise Failed("%s has unknown type %r" % (what, type))
        valid = None
        if validity is not None:
            valid = _bits(_as_buffer(validity, what + " validity"), n, what + " validity")
            if all(valid):
                valid = None
        return cls(name, type, raw, valid)

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        if self.valid is not None and not self.valid[i]:
            return None
        return _from_raw(self.type, self.raw[i])

    def is_null(self, i):
        return self.valid is not None and not self.valid[i]

    def to_list(self):
        """Every value as a Python value (see the module docs)."""
        return [self[i] for i in range(len(self.raw))]


class Batch:
    """Rows of the fields a plugin reads, as columns.

    `batch.columns` in schema order, `batch.column(name)`, `len(batch)`, `batch.row(i)` and
    iteration over rows.
    """

    __slots__ = ("schema", "columns", "row_count", "_index")

    def __init__(self, schema, columns, row_count):
        self.schema = list(schema)
        self.columns = list(columns)
        self.row_count = row_count
        self._index = {f.name: i for i, f in enumerate(self.schema)}

    @classmethod
    def decode(cls, schema, row_count, wire_columns):
        """Decodes wire columns (objects with `values`, `offsets` and `validity`, such as the
        WIT `column` record) of the fields in `schema`."""
        schema = _fields(schema)
        wire_columns = list(wire_columns)
        if len(wire_columns) != len(schema):
            raise Failed("the batch has %d columns, expected %d (%s)" % (
                len(wire_columns), len(schema), ", ".join(f.name for f in schema)))
        cols = [Column.decode(f.name, f.type, row_count, c.values, c.offsets, c.validity)
                for f, c in zip(schema, wire_columns)]
        return cls(schema, cols, row_count)

    def __len__(self):
        return self.row_count

    def column(self, name):
        i = self._index.get(name)
        if i is None:
            raise KeyError("the batch has no column `%s` (it has %s)"
                           % (name, ", ".join(f.name for f in self.schema) or "none"))
        return self.columns[i]

    def row(self, i):
        if not 0 <= i < self.row_count:
            raise IndexError("row %d of a batch of %d rows" % (i, self.row_count))
        return Row(self, i)

    def __iter__(self):
        for i in range(self.row_count):
            yield Row(self, i)

    rows = __iter__


class Row:
    """One row of a batch, read like a dict: `row["price"]`, `row.get(...)`, `keys()`,
    `items()`, `in`. Typed readers (`row.int(name)`, `row.decimal2(name)`,
    `row.hundredths(name)`, `row.micros(name)`, ...) also check the field's type."""

    __slots__ = ("batch", "index")

    def __init__(self, batch, index):
        self.batch = batch
        self.index = index

    def __getitem__(self, name):
        return self.batch.column(name)[self.index]

    def get(self, name, default=None):
        if name in self.batch._index:
            return self[name]
        return default

    def __contains__(self, name):
        return name in self.batch._index

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.batch.schema)

    def keys(self):
        return [f.name for f in self.batch.schema]

    def values(self):
        return [c[self.index] for c in self.batch.columns]

    def items(self):
        return list(zip(self.keys(), self.values()))

    def to_dict(self):
        return dict(self.items())

    def __repr__(self):
        return "Row(%d, %r)" % (self.index, self.to_dict())

    def _typed(self, name, types, raw=False):
        col = self.batch.column(name)
        if col.type not in types:
            raise TypeError("field `%s` is %s, not %s" % (name, col.type, " or ".join(types)))
        if col.is_null(self.index):
            return None
        return col.raw[self.index] if raw else col[self.index]

    def int(self, name):
        return self._typed(name, (INT,))

    def float(self, name):
        return self._typed(name, (FLOAT,))

    def decimal2(self, name):
        return self._typed(name, (DECIMAL2,))

    def hundredths(self, name):
        return self._typed(name, (DECIMAL2,), raw=True)

    def str(self, name):
        return self._typed(name, (STRING,))

    def bool(self, name):
        return self._typed(name, (BOOL,))

    def datetime(self, name):
        return self._typed(name, (DATETIME,))

    def micros(self, name):
        return self._typed(name, (DATETIME,), raw=True)


# ---------------------------------------------------------------------------------------
# Encoding: column builders


class WireColumn:
    """A column in wire form: `validity`, `offsets` (bytes or None) and `values` (bytes)."""

    __slots__ = ("validity", "offsets", "values")

    def __init__(self, validity, offsets, values):
        self.validity = validity
        self.offsets = offsets
        self.values = values

    def __repr__(self):
        return "WireColumn(validity=%r, offsets=%r, values=%r)" % (
            self.validity, self.offsets, self.values)


def _le_bytes(a):
    if not _LITTLE:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _pack_bits(bits):
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        if b:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


class ColumnBuilder:
    """Builds one output column: `append(value)` (Python value, checked and converted),
    `append_raw(raw)`, `append_zero()`, `append(None)` (a null), then `finish()`."""

    __slots__ = ("type", "_vals", "_valid")

    def __init__(self, type):
        self.type = _check_type(type)
        if type in (INT, DECIMAL2, DATETIME):
            self._vals = array("q")
        elif type == FLOAT:
            self._vals = array("d")
        else:
            self._vals = []
        self._valid = None

    def __len__(self):
        return len(self._vals)

    def append(self, value):
        if value is None:
            self.append_null()
        else:
            self.append_raw(_to_raw(self.type, value))

    def append_raw(self, raw):
        if self._valid is not None:
            self._valid.append(True)
        self._vals.append(raw)

    def append_zero(self):
        self.append_raw(_ZERO_RAW[self.type])

    def append_null(self):
        if self._valid is None:
            self._valid = [True] * len(self._vals)
        self._vals.append(_ZERO_RAW[self.type])
        self._valid.append(False)

    def truncate(self, n):
        del self._vals[n:]
        if self._valid is not None:
            del self._valid[n:]

    def finish(self):
        """The column in wire form (a `WireColumn`)."""
        validity = _pack_bits(self._valid) if self._valid is not None else None
        if self.type == STRING:
            offs = array("I", [0])
            parts = []
            pos = 0
            for s in self._vals:
                b = s.encode("utf-8")
                parts.append(b)
                pos += len(b)
                offs.append(pos)
            return WireColumn(validity, _le_bytes(offs), b"".join(parts))
        if self.type == BOOL:
            return WireColumn(validity, None, _pack_bits(self._vals))
        return WireColumn(validity, None, _le_bytes(self._vals))


class BatchBuilder:
    """Builds a batch of the given fields: `push(row)` with a dict or a sequence of values
    in field order, then `finish()` → `(row_count, [WireColumn])`."""

    def __init__(self, schema):
        self.schema = _fields(schema)
        self.builders = [ColumnBuilder(f.type) for f in self.schema]
        self.rows = 0

    def push(self, row):
        if isinstance(row, dict):
            unknown = set(row) - {f.name for f in self.schema}
            if unknown:
                raise KeyError("no field %s in %s" % (", ".join(sorted(unknown)),
                                                      ", ".join(f.name for f in self.schema)))
            values = [row.get(f.name) for f in self.schema]
        else:
            values = list(row)
            if len(values) != len(self.schema):
                raise ValueError("a row of %d values for %d fields"
                                 % (len(values), len(self.schema)))
        for f, b, v in zip(self.schema, self.builders, values):
            try:
                b.append(v)
            except (TypeError, ValueError) as e:
                raise type(e)("field `%s`: %s" % (f.name, e)) from None
        self.rows += 1

    def finish(self):
        return self.rows, [b.finish() for b in self.builders]


# ---------------------------------------------------------------------------------------
# Logging and counters


_LEVELS = ("trace", "debug", "info", "warn", "error")
#: Lines logged outside a component (plain CPython): (level, message); the harness reads it.
local_log = []
#: Counters added outside a component: name → total.
local_counters = {}


class _Log:
    """`log.info("...")` and siblings write to the host's log (with keyspace, run, node and
    batch); `log.enabled(level)` tells whether a level is kept."""

    @staticmethod
    def write(level, message):
        if level not in _LEVELS:
            raise ValueError("log level %r; use one of %s" % (level, ", ".join(_LEVELS)))
        if _wh is not None:
            _wh.log(_wt.LogLevel[level.upper()], str(message))
        else:
            local_log.append((level, str(message)))

    @staticmethod
    def enabled(level):
        if _wh is not None:
            return _wh.log_enabled(_wt.LogLevel[level.upper()])
        return True

    def trace(self, message):
        self.write("trace", message)

    def debug(self, message):
        self.write("debug", message)

    def info(self, message):
        self.write("info", message)

    def warn(self, message):
        self.write("warn", message)

    def error(self, message):
        self.write("error", message)


log = _Log()
log_enabled = _Log.enabled


class _LogStream:
    """A text stream that forwards whole lines to the host log. Inside a component built
    with `--stub-wasi` the real stdout and stderr trap when written, so the export glue
    installs one of these as each: `print()` then becomes a log line."""

    def __init__(self, level):
        self.level = level
        self._buf = ""

    def write(self, text):
        text = str(text)
        self._buf += text
        if "\n" in self._buf:
            *lines, self._buf = self._buf.split("\n")
            for line in lines:
                log.write(self.level, line)
        return len(text)

    def flush(self):
        if self._buf:
            log.write(self.level, self._buf)
            self._buf = ""

    def isatty(self):
        return False

    def writable(self):
        return True


def counter_add(name, delta=1):
    """Adds `delta` (≥ 0) to a counter of the current batch, reported with its statistics."""
    if _wh is not None:
        _wh.counter_add(name, delta)
    else:
        local_counters[name] = local_counters.get(name, 0) + delta


# ---------------------------------------------------------------------------------------
# Processors


class OpenContext:
    """What `Processor.open` knows.

    `params`: the node's `p` section (a dict). Plugins cannot read files, so the host adds
    `<key>_content` with the file's text for every top-level `<key>` ending in `_url`, and a
    list of texts for every `<key>` ending in `_urls`. `input_schema`: the fields of the
    table the node reads (`r.*`), as `Field`s. Also `keyspace`, `run_id`, `node_name`,
    `kind`.
    """

    def __init__(self, params, input_schema, keyspace="", run_id=0, node_name="", kind=MAP):
        if isinstance(params, (str, bytes)):
            try:
                params = json.loads(params) if params else {}
            except ValueError as e:
                raise InvalidParams("params are not valid JSON: %s" % e) from None
        if not isinstance(params, dict):
            raise InvalidParams("params must be a JSON object (the node's `p` section)")
        self.params = params
        self.input_schema = _fields(input_schema)
        self.keyspace = keyspace
        self.run_id = run_id
        self.node_name = node_name
        self.kind = kind

    def input_field(self, name):
        """The input `Field` called `name`; `SchemaMismatch` when there is none."""
        for f in self.input_schema:
            if f.name == name:
                return f
        raise SchemaMismatch("the input has no field `%s`; it has %s" % (
            name, ", ".join(f.name for f in self.input_schema) or "none"))

    def require(self, name, type):
        """Checks that the input has `name` with type `type` (else `SchemaMismatch`)."""
        f = self.input_field(name)
        if f.type != type:
            raise SchemaMismatch("input field `%s` is %s, expected %s" % (name, f.type, type))
        return f


class Binding:
    """What an instance reads (`r.*` names, in batch column order) and produces (`p.*`
    fields, in output column order)."""

    def __init__(self, reads=(), outputs=()):
        self.reads = []
        for r in reads:
            self.read(r)
        self.outputs = []
        for f in _fields(outputs):
            self.output(*f)

    def read(self, name):
        if name not in self.reads:
            self.reads.append(name)
        return self

    def output(self, name, type):
        self.outputs.append(Field(name, type))
        return self

    def __repr__(self):
        return "Binding(reads=%r, outputs=%r)" % (self.reads, self.outputs)


class Processor:
    """Base class of a processor plugin. Set the class attributes `name` (what scripts
    write in `custom_proc_type`), `version`, `kind` (`MAP`, `FILTER`, `FILTER_MAP`,
    `FLAT_MAP`), `description` (else the first line of the docstring) and optionally
    `params_schema` (JSON Schema text), and implement:

    * `open(self, ctx)`: parse `ctx.params`, check `ctx.input_schema`, return a `Binding`.
      Runs once per node run and worker, on a fresh object;
    * `process_row(self, row, emit)`: one input row (a `Row` of the read fields);
      what `emit` accepts depends on the kind (see `Emit`);
    * optionally `begin_batch(self, batch)`, called with the decoded `Batch` before its
      first row (e.g. to convert whole columns at once), and `end_batch(self)`, called after
      its last row (e.g. for `counter_add`).
    """

    name = None
    version = "0.1.0"
    kind = MAP
    description = None
    params_schema = None

    def open(self, ctx):
        raise NotImplementedError("%s must implement open(ctx)" % type(self).__name__)

    def process_row(self, row, emit):
        raise NotImplementedError("%s must implement process_row(row, emit)" % type(self).__name__)

    def begin_batch(self, batch):
        pass

    def end_batch(self):
        pass

    @classmethod
    def info(cls):
        """(name, version, kind, description, params_schema), checked."""
        name = cls.name
        if not isinstance(name, str) or not name or any(
                not (c.islower() and c.isascii() or c.isdigit() or c in "_-") for c in name):
            raise ValueError("%s.name must be [a-z0-9_-]+, not %r" % (cls.__name__, name))
        if cls.kind not in KINDS:
            raise ValueError("%s.kind must be one of %s" % (cls.__name__, ", ".join(KINDS)))
        desc = cls.description
        if desc is None:
            desc = (cls.__doc__ or "").strip().split("\n")[0]
        return name, cls.version, cls.kind, desc, cls.params_schema


class _PluginBug(Exception):
    pass


#: Marks a null in an output row being built.
_NULL = object()


class Emit:
    """Where `process_row` writes its output:

    | kind | output rows | use |
    |---|---|---|
    | map | exactly one, already started | `emit[name] = v` / `emit.set(name, v)` |
    | filter | none; the row passes unless `keep(False)` | `keep` |
    | filter-map | one if kept (kept by default), already started | `keep`, `set` |
    | flat-map | one per `push()` (none by default) | `push()`, then `set` |

    Fields not set hold their type's zero value.
    """

    __slots__ = ("_out",)

    def __init__(self, out):
        self._out = out

    @property
    def kind(self):
        return self._out.kind

    def keep(self, keep=True):
        if self._out.kind not in (FILTER, FILTER_MAP):
            raise _PluginBug("keep() is for filter and filter-map plugins, and this one is a %s"
                             % self._out.kind)
        self._out.keep = bool(keep)
        return self

    def push(self, values=None):
        """Starts a new output row (flat-map), optionally setting fields from a dict."""
        if self._out.kind != FLAT_MAP:
            raise _PluginBug("push() is for flat-map plugins, and this one is a %s"
                             % self._out.kind)
        self._out.commit()
        self._out.open_row()
        if values:
            self.update(values)
        return self

    def set(self, name, value):
        out = self._out
        if out.slots is None:
            raise _PluginBug("cannot set `%s`: %s" % (name, "call push() to start an output row"
                                                     if out.kind == FLAT_MAP else
                                                     "a filter has no output fields"))
        i = out.index.get(name)
        if i is None:
            raise _PluginBug("cannot set `%s`: the binding declares no such output (it has %s)"
                             % (name, ", ".join(f.name for f in out.schema) or "none"))
        ty = out.schema[i].type
        try:
            out.slots[i] = _NULL if value is None else _to_raw(ty, value)
        except (TypeError, ValueError) as e:
            raise _PluginBug("cannot set `%s` (%s) to %r: %s" % (name, ty, value, e)) from None
        return self

    __setitem__ = set

    def set_raw(self, name, raw):
        """Sets a field from its raw form (int hundredths for decimal2, int microseconds for
        datetime, else the Python value), unchecked: the fast path for plugins that convert
        values themselves."""
        out = self._out
        i = out.index.get(name) if out.slots is not None else None
        if i is None:
            return self.set(name, raw)  # reports the misuse
        out.slots[i] = raw
        return self

    def set_all_raw(self, raws):
        """Sets every output field at once from raw forms in binding order, unchecked: the
        fast path for plugins that convert values themselves."""
        out = self._out
        if out.slots is None or len(raws) != len(out.slots):
            raise _PluginBug("set_all_raw needs an open output row and %d values, got %d"
                             % (len(out.schema), len(raws)))
        out.slots = list(raws)
        return self

    def update(self, values):
        for k, v in values.items():
            self.set(k, v)
        return self


class _Out:
    """Output state of one batch."""

    def __init__(self, kind, schema):
        self.kind = kind
        self.schema = schema
        self.index = {f.name: i for i, f in enumerate(schema)}
        self.builders = [ColumnBuilder(f.type) for f in schema]
        # The builders' value lists, appended to directly while no column has a null.
        self._vals = [b._vals for b in self.builders]
        self._zeros = [_ZERO_RAW[f.type] for f in schema]
        self._nulls_seen = False
        self.rows = 0
        self.slots = None
        self.keep = True
        self.parents = array("I")
        self.current = 0

    def open_row(self):
        self.slots = self._zeros[:]

    def commit(self):
        slots = self.slots
        if slots is None:
            return
        if self._nulls_seen or _NULL in slots:
            self._nulls_seen = True
            for b, v in zip(self.builders, slots):
                if v is _NULL:
                    b.append_null()
                else:
                    b.append_raw(v)
        else:
            for vals, v in zip(self._vals, slots):
                vals.append(v)
        self.rows += 1
        if self.kind == FLAT_MAP:
            self.parents.append(self.current)
        self.slots = None

    def rollback(self, rows):
        for b in self.builders:
            b.truncate(rows)
        del self.parents[rows:]
        self.rows = rows
        self.slots = None


class BatchResult:
    """The outcome of one batch in wire form: `row_count`, `columns` (`WireColumn`s),
    `keep` and `parents` (bytes or None), `row_errors` (`(row, field, message)`)."""

    __slots__ = ("row_count", "columns", "keep", "parents", "row_errors")

    def __init__(self, row_count, columns, keep, parents, row_errors):
        self.row_count = row_count
        self.columns = columns
        self.keep = keep
        self.parents = parents
        self.row_errors = row_errors


class Runtime:
    """One open instance: the plugin object and the schemas it agreed to. The export glue
    forwards the WIT calls here; the harness drives it directly."""

    def __init__(self, cls, ctx):
        cls.info()
        plugin = cls()
        binding = plugin.open(ctx)
        if not isinstance(binding, Binding):
            raise Failed("%s.open must return a Binding, not %s"
                         % (cls.__name__, type(binding).__name__))
        reads = []
        for name in binding.reads:
            try:
                reads.append(ctx.input_field(name))
            except SchemaMismatch as e:
                raise SchemaMismatch("cannot read `%s`: %s" % (name, e.message)) from None
        seen = set()
        for f in binding.outputs:
            if f.name in seen:
                raise Failed("output field `%s` is declared twice" % f.name)
            seen.add(f.name)
        if cls.kind == FILTER and binding.outputs:
            raise Failed("a filter produces no output fields, but the binding declares %s; "
                         "use kind = FILTER_MAP" % ", ".join(f.name for f in binding.outputs))
        self.plugin = plugin
        self.kind = cls.kind
        self.reads = reads
        self.outputs = list(binding.outputs)
        self._busy = False

    def process(self, row_count, wire_columns):
        """Decodes a batch of the read fields, runs the plugin over every row and encodes
        the result (a `BatchResult`); raises `PluginError` to fail the batch."""
        if self._busy:
            raise Failed("process() re-entered while a batch is running")
        self._busy = True
        try:
            return self._process(row_count, wire_columns)
        finally:
            self._busy = False

    def _process(self, row_count, wire_columns):
        batch = Batch.decode(self.reads, row_count, wire_columns)
        kind = self.kind
        out = _Out(kind, self.outputs)
        emit = Emit(out)
        keep = []
        row_errors = []
        plugin = self.plugin
        try:
            plugin.begin_batch(batch)
        except PluginError:
            raise
        except Exception as e:
            raise Failed("begin_batch: %s" % _exception_line(e)) from None
        opens = kind in (MAP, FILTER_MAP)
        for row in batch:
            start = out.rows
            out.current = row.index
            out.keep = True
            out.slots = None
            if opens:
                out.open_row()
            try:
                plugin.process_row(row, emit)
            except RowError as e:
                out.rollback(start)
                if kind in (FILTER, FILTER_MAP):
                    keep.append(False)
                row_errors.append((row.index, e.field, e.message))
                continue
            except _PluginBug as e:
                raise Failed("plugin bug at input row %d: %s" % (row.index, e)) from None
            except PluginError:
                raise
            except Exception as e:
                raise Failed("input row %d: %s" % (row.index, _exception_line(e))) from None
            if kind in (MAP, FLAT_MAP) or out.keep:
                out.commit()
            if kind in (FILTER, FILTER_MAP):
                keep.append(out.keep)
        plugin.end_batch()
        rows = sum(keep) if kind == FILTER else out.rows
        return BatchResult(
            rows,
            [b.finish() for b in out.builders],
            _pack_bits(keep) if kind in (FILTER, FILTER_MAP) else None,
            _le_bytes(out.parents) if kind == FLAT_MAP else None,
            row_errors,
        )


def _exception_line(e):
    """`Type: message`, the last line of a traceback, built without the `traceback` module:
    that module reads source files through `linecache`, and a component has no files (with
    `--stub-wasi` the attempt traps)."""
    t = type(e)
    name = t.__qualname__
    if t.__module__ not in ("builtins", "__main__"):
        name = "%s.%s" % (t.__module__, name)
    try:
        text = str(e)
    except Exception:
        text = "<exception str() failed>"
    return "%s: %s" % (name, text) if text else name


# ---------------------------------------------------------------------------------------
# Decorators: a function over a row becomes a Processor subclass


def _row_plugin(kind, fn, name, version, reads, outputs, description, params_schema):
    if name is None:
        name = fn.__name__.replace("_", "-").lower()
    out_fields = _fields(outputs)
    if kind == FILTER and out_fields:
        raise ValueError("a filter has no outputs")
    takes_ctx = fn.__code__.co_argcount >= 2
    read_names = list(reads) if reads is not None else None

    class RowPlugin(Processor):
        def open(self, ctx):
            self.ctx = ctx
            self.call = (lambda row: fn(row, ctx)) if takes_ctx else fn
            names = read_names if read_names is not None else [f.name for f in ctx.input_schema]
            return Binding(reads=names, outputs=out_fields)

        if kind == MAP:
            def process_row(self, row, emit):
                values = self.call(row)
                if values:
                    emit.update(values)
        elif kind == FILTER:
            def process_row(self, row, emit):
                emit.keep(bool(self.call(row)))
        elif kind == FILTER_MAP:
            def process_row(self, row, emit):
                values = self.call(row)
                if values is None or values is False:
                    emit.keep(False)
                elif values is not True:
                    emit.update(values)
        else:
            def process_row(self, row, emit):
                for values in self.call(row) or ():
                    emit.push(values)

    RowPlugin.__name__ = RowPlugin.__qualname__ = fn.__name__
    RowPlugin.__doc__ = fn.__doc__
    RowPlugin.name = name
    RowPlugin.version = version
    RowPlugin.kind = kind
    RowPlugin.description = description
    RowPlugin.params_schema = params_schema
    RowPlugin.function = staticmethod(fn)
    RowPlugin.info()
    return RowPlugin


def _decorator(kind):
    def deco(name=None, version="0.1.0", reads=None, outputs=None, description=None,
             params_schema=None):
        def wrap(fn):
            return _row_plugin(kind, fn, name, version, reads, outputs, description,
                               params_schema)
        return wrap
    return deco


map_rows = _decorator(MAP)
map_rows.__doc__ = """`@map_rows(name=..., reads=[...], outputs={name: type})` on `f(row)` or
`f(row, ctx)` returning a dict of output values: a map plugin. `reads` defaults to every
input field; `name` to the function's name with `-` for `_`. Raise `RowError` to drop a row."""
filter_rows = _decorator(FILTER)
filter_rows.__doc__ = """`@filter_rows(...)` on `f(row)` returning whether the row passes."""
filter_map_rows = _decorator(FILTER_MAP)
filter_map_rows.__doc__ = """`@filter_map_rows(...)` on `f(row)` returning a dict of outputs
for a kept row, or None to drop it."""
flat_map_rows = _decorator(FLAT_MAP)
flat_map_rows.__doc__ = """`@flat_map_rows(...)` on `f(row)` returning (or yielding) one dict
of outputs per output row."""


# ---------------------------------------------------------------------------------------
# Export glue (inside a component only)


def export(cls):
    """The two classes componentize-py looks up in the app module: `Processor` (the
    interface's `describe`) and `Instance` (the `instance` resource). Write
    `Processor, Instance = vessel_plugin.export(MyPlugin)` in that module."""
    if _wp is None:
        raise RuntimeError("vessel_plugin.export needs the wit_world bindings: it runs inside "
                           "a component built by componentize-py")
    name, version, kind, desc, schema = cls.info()
    info = _wp.PluginInfo(name, version, _wp.Kind[kind.replace("-", "_").upper()], desc, schema)
    wit_types = {t: _wt.FieldType[t.upper()] for t in FIELD_TYPES}
    from_wit = {v: k for k, v in wit_types.items()}

    def err(e):
        case = {"invalid-params": _wt.Error_InvalidParams,
                "schema-mismatch": _wt.Error_SchemaMismatch}.get(e.kind, _wt.Error_Failed)
        return _WitErr(case(e.message))

    class ProcessorExport(_wit_exports.Processor):
        def describe(self):
            return info

    class InstanceExport:
        # No __slots__: componentize-py keeps the resource handle in an attribute.

        @classmethod
        def open(cls_, args):
            if not isinstance(sys.stdout, _LogStream):
                sys.stdout = _LogStream("info")
                sys.stderr = _LogStream("warn")
            try:
                ctx = OpenContext(args.params_json,
                                  [Field(f.name, from_wit[f.ty]) for f in args.input_schema],
                                  args.keyspace, args.run_id, args.node_name, kind)
                rt = Runtime(cls, ctx)
            except PluginError as e:
                raise err(e) from None
            except Exception as e:
                raise err(Failed("open: %s" % _exception_line(e))) from None
            inst = cls_()
            inst.runtime = rt
            return inst

        def binding(self):
            rt = self.runtime
            return _wp.Binding([_wt.Field(f.name, wit_types[f.type]) for f in rt.outputs],
                               [f.name for f in rt.reads])

        def process(self, input):
            try:
                r = self.runtime.process(input.row_count, input.columns)
            except PluginError as e:
                raise err(e) from None
            except Exception as e:
                raise err(Failed(_exception_line(e))) from None
            cols = [_wt.Column(c.validity, c.offsets, c.values) for c in r.columns]
            return _wp.BatchResult(
                _wt.Batch(r.row_count, cols), r.keep, r.parents,
                [_wt.RowError(row, field, msg) for row, field, msg in r.row_errors])

    ProcessorExport.__name__ = "Processor"
    InstanceExport.__name__ = "Instance"
    return ProcessorExport, InstanceExport


class _SealedImports:
    """Meta path finder installed by `seal_imports`: consulted only for modules that are not
    loaded yet, it lets built-in and frozen ones load (they need no files) and refuses the
    rest with a message."""

    def __init__(self, hint):
        self.hint = hint

    def find_spec(self, name, path=None, target=None):
        if name in sys.builtin_module_names or _imp.is_frozen(name):
            return None
        raise ImportError("module %r is not available: a Wasm component has no files, so only "
                          "modules loaded when it was built can be imported%s"
                          % (name, "; " + self.hint if self.hint else ""), name=name)


def seal_imports(hint=""):
    """Call at the end of the app module (`processor.py`). componentize-py snapshots the
    interpreter after importing that module, and with `--stub-wasi` the component has no
    files: importing a module that was not loaded by then would trap. After this call it
    raises ImportError instead, with `hint` (e.g. the modules that are available)."""
    if not any(isinstance(f, _SealedImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _SealedImports(hint))


# ---------------------------------------------------------------------------------------
# Testing on the build machine


class HarnessResult:
    """What `Harness.process` gives: `batch` (a decoded `Batch` of the outputs),
    `keep` (list of bool or None), `parents` (list of int or None), `row_errors`
    (`(row, field, message)` tuples)."""

    def __init__(self, batch, keep, parents, row_errors):
        self.batch = batch
        self.keep = keep
        self.parents = parents
        self.row_errors = row_errors

    def rows(self):
        """Output rows as dicts."""
        return [r.to_dict() for r in self.batch]


class Harness:
    """Runs a processor class on plain CPython through the same codec as the component:
    `Harness(MyPlugin, params, input_schema)`, then `process(rows)` with rows as dicts or
    sequences over the whole input schema."""

    def __init__(self, cls, params, input_schema, node_name="test"):
        self.ctx = OpenContext(params, input_schema, "test", 1, node_name, cls.kind)
        self.runtime = Runtime(cls, self.ctx)

    @property
    def reads(self):
        return [f.name for f in self.runtime.reads]

    @property
    def outputs(self):
        return list(self.runtime.outputs)

    def process(self, rows):
        """Encodes `rows` (the read fields are picked out), processes them, decodes the
        result. Raises `PluginError` when the batch fails."""
        schema = self.ctx.input_schema
        bb = BatchBuilder(self.runtime.reads)
        for row in rows:
            if not isinstance(row, dict):
                row = dict(zip((f.name for f in schema), row))
            bb.push({f.name: row[f.name] for f in self.runtime.reads})
        n, cols = bb.finish()
        r = self.runtime.process(n, cols)
        out = Batch.decode(self.runtime.outputs, r.row_count, r.columns)
        keep = _bits(r.keep, n, "keep") if r.keep is not None else None
        parents = list(_numbers(r.parents, "I", len(r.parents) // 4, "parents")) \
            if r.parents is not None else None
        return HarnessResult(out, keep, parents, list(r.row_errors))
