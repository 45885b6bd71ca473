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
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from itertools import accumulate, repeat
from operator import attrgetter, itemgetter, le, methodcaller

try:  # Inside a component of either world: the host imports componentize-py generates.
    from componentize_py_types import Err as _WitErr
    from wit_world.imports import host as _wh
    from wit_world.imports import types as _wt
except ImportError:  # Plain CPython: codec, runtime and harness only.
    _WitErr = _wh = _wt = None
try:  # Inside a processor component: the exports.
    from wit_world import exports as _wit_exports
    from wit_world.exports import processor as _wp
except ImportError:  # Plain CPython, or a function component (vessel_functions).
    _wit_exports = _wp = None

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
# The context of the SDK's own decimal arithmetic, whatever the plugin does to the current
# one: wide enough for every 64-bit hundredths value, rounding half away from zero.
_DEC_CTX = Context(prec=40, rounding=ROUND_HALF_UP, Emin=-999999, Emax=999999)
_QUANTIZE_CENT = methodcaller("quantize", _CENT, None, _DEC_CTX)
_SCALEB_UP = methodcaller("scaleb", 2, _DEC_CTX)
_SCALEB_DOWN = methodcaller("scaleb", -2, _DEC_CTX)


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
    h = x * 100.0
    if -1e9 < h < 1e9:
        # Below 1e9 hundredths, `h` is within 1e-6 of the shortest decimal times 100, so
        # unless it is about halfway between two integers, the nearest integer is the answer.
        c = round(h)
        if -0.4999 < h - c < 0.4999:
            return c
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
        c = int(d.quantize(_CENT, context=_DEC_CTX).scaleb(2, _DEC_CTX))
    except InvalidOperation:
        raise ValueError("%s is too large for a decimal2" % value) from None
    if not _I64_MIN <= c <= _I64_MAX:
        raise ValueError("%s is too large for a decimal2" % value)
    return c


def hundredths_to_decimal(c):
    """The Decimal (2 places) of a decimal2 in hundredths."""
    return Decimal(c).scaleb(-2, _DEC_CTX)


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
    return _EPOCH + timedelta(0, 0, us)


def format_iso_millis(us):
    """`YYYY-MM-DDThh:mm:ss.mmm+00:00` of microseconds since the epoch (UTC; sub-millisecond
    digits are dropped), Capillaries' text form of a datetime for Python code."""
    t = _EPOCH + timedelta(0, 0, us)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00" % (
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond // 1000)


_ISO_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}", re.ASCII)


def parse_iso_millis(s):
    """Microseconds since the epoch of `YYYY-MM-DDThh:mm:ss.mmm±hh:mm` (exactly: 3 digits of
    milliseconds and an offset with a colon, no `Z`), the format Capillaries reads back."""
    try:
        # The exact form, and fields in range where datetime would accept more (24:00).
        if not (isinstance(s, str) and _ISO_MILLIS.fullmatch(s) and s[11:13] <= "23"
                and s[14:16] <= "59" and s[17:19] <= "59" and s[24:26] <= "23"
                and s[27:29] <= "59"):
            raise ValueError
        d = datetime.fromisoformat(s) - _EPOCH
    except ValueError:
        raise ValueError("%r is not a datetime in the form YYYY-MM-DDThh:mm:ss.mmm+hh:mm" % (s,)) \
            from None
    return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds


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
#
# Work is done a column at a time with C-level loops (`map`, `memoryview.tolist`, bytes
# methods) rather than one Python call per value: inside a component the interpreter is
# Wasm code, and per-value Python work is what a batch's time is made of.


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


# b"0"/b"1" ↔ b"\x00"/b"\x01", for turning bitmaps into binary digits and back.
_DIGITS_TO_BITS = bytes.maketrans(b"01", b"\x00\x01")
_BITS_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _bits(buf, n, what):
    if len(buf) != (n + 7) // 8:
        raise Failed("%s holds %d bytes, expected %d for %d rows"
                     % (what, len(buf), (n + 7) // 8, n))
    if not n:
        return []
    # The bitmap as one integer (bit i is row i), its binary digits least significant first.
    digits = bin(int.from_bytes(bytes(buf), "little"))[:1:-1].ljust(n, "0")[:n]
    return list(map(bool, digits.encode("ascii").translate(_DIGITS_TO_BITS)))


def _strings(data, offs, n, what):
    """The `n` strings of a string column (`data`: bytes, `offs`: n + 1 offsets)."""
    if n and (offs[0] != 0 or offs[n] != len(data)):
        raise Failed("%s offsets do not span its %d bytes" % (what, len(data)))
    if not n:
        return []
    offs = offs.tolist()
    starts, ends = offs[:n], offs[1:]
    if not all(map(le, starts, ends)):
        row = next(i for i, (a, b) in enumerate(zip(starts, ends)) if b < a)
        raise Failed("%s offsets decrease at row %d" % (what, row))
    spans = list(map(slice, starts, ends))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and len(text) == len(data):  # ASCII: byte offsets are str offsets
        return list(map(text.__getitem__, spans))
    try:
        return list(map(bytes.decode, map(data.__getitem__, spans)))
    except UnicodeDecodeError:
        pass
    for i, span in enumerate(spans):
        try:
            data[span].decode("utf-8")
        except UnicodeDecodeError as e:
            raise Failed("%s row %d is not UTF-8: %s" % (what, i, e)) from None
    raise AssertionError("unreachable")


def _py_values(ty, raw, valid):
    """The Python values of a column's raw values (`None` where `valid` is False)."""
    if ty == DECIMAL2:
        values = list(map(_SCALEB_DOWN, map(Decimal, raw)))
    elif ty == DATETIME:
        n = len(raw)
        try:
            values = list(map(_EPOCH.__add__, map(timedelta, repeat(0, n), repeat(0, n), raw)))
        except OverflowError:
            for i, us in enumerate(raw):
                try:
                    micros_to_datetime(us)
                except OverflowError:
                    raise Failed("row %d holds %d µs since 1970, outside Python's datetime "
                                 "range" % (i, us)) from None
            raise
    elif isinstance(raw, (memoryview, array)):
        values = raw.tolist()
    else:
        values = list(raw)
    if valid is not None:
        for i, v in enumerate(valid):
            if not v:
                values[i] = None
    return values


class Column:
    """A decoded column of `n` rows.

    `raw` holds the values in raw form (a memoryview of i64/f64 for numbers and datetimes,
    a list of str or bool otherwise); `col[i]` gives the Python value (see the module docs),
    `None` for a null. Numbers are not copied: the view reads the batch's buffer.
    """

    __slots__ = ("name", "type", "raw", "valid", "_py")

    def __init__(self, name, type, raw, valid=None):
        self.name = name
        self.type = type
        self.raw = raw
        #: list of bool, or None when no value is null (what the host sends today)
        self.valid = valid
        self._py = None

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
            raw = _strings(bytes(values), offs, n, what)
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

    def values(self):
        """Every value as a Python value (see the module docs), `None` for a null; converted
        once, all at a time, and cached: do not modify the list."""
        py = self._py
        if py is None:
            try:
                py = self._py = _py_values(self.type, self.raw, self.valid)
            except Failed as e:
                raise Failed("column `%s` %s" % (self.name, e.message)) from None
        return py

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        if self._py is not None:
            return self._py[i]
        if self.valid is not None and not self.valid[i]:
            return None
        return _from_raw(self.type, self.raw[i])

    def is_null(self, i):
        return self.valid is not None and not self.valid[i]

    def to_list(self):
        """Every value as a Python value (see the module docs), in a new list."""
        return list(self.values())


class Batch:
    """Rows of the fields a plugin reads, as columns.

    `batch.columns` in schema order, `batch.column(name)`, `len(batch)`, `batch.row(i)` and
    iteration over rows.
    """

    # _wanted: None (rows hold every field), or the runtime's set of decimal2 and datetime
    # fields that rows hold (the others are converted when a row first reads them, see
    # _PartialRow); _grew: a field joined _wanted while the rows were being made.
    __slots__ = ("schema", "columns", "row_count", "_index", "_names", "_wanted", "_grew")

    def __init__(self, schema, columns, row_count):
        self.schema = list(schema)
        self.columns = list(columns)
        self.row_count = row_count
        self._index = {f.name: i for i, f in enumerate(self.schema)}
        self._names = [f.name for f in self.schema]
        self._wanted = None
        self._grew = False

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

    def _row_source(self, start):
        """(names, an iterator of value tuples from row `start`, the row class): what the
        runtime makes rows from. A decimal2 or datetime field that no row has read yet is
        left out (its Python values cost more to make than anything else), unless its values
        exist already; rows then are `_PartialRow`s, which convert it if it is read."""
        wanted = self._wanted
        names = []
        cols = []
        partial = False
        for f, c in zip(self.schema, self.columns):
            if wanted is not None and f.type in _LAZY_TYPES and c._py is None \
                    and f.name not in wanted:
                partial = True
                continue
            names.append(f.name)
            values = c.values()
            cols.append(values[start:] if start else values)
        self._grew = False
        it = zip(*cols) if cols else repeat((), self.row_count - start)
        return names, it, (_PartialRow if partial else _Row)

    def _read(self, name):
        """A row read the left-out field `name`: from now on rows hold it."""
        self._wanted.add(name)
        self._grew = True

    def __iter__(self):
        names, it, make = self._row_source(0)
        for i, values in enumerate(it):
            row = make(zip(names, values))
            row.batch = self
            row.index = i
            yield row

    rows = __iter__


class Row(dict):
    """One row of a batch: a dict of the read fields' Python values (`row["price"]`,
    `row.get(...)`, `in`, iteration over the names), plus `row.index` (the row in its batch),
    `row.batch`, `keys()`/`values()`/`items()` as lists and `to_dict()`. Typed readers
    (`row.int(name)`, `row.decimal2(name)`, `row.hundredths(name)`, `row.micros(name)`, ...)
    also check the field's type."""

    __slots__ = ("batch", "index")

    def __init__(self, batch, index):
        dict.__init__(self, zip(batch._names, [c.values()[index] for c in batch.columns]))
        self.batch = batch
        self.index = index

    def __missing__(self, name):
        raise KeyError("the batch has no column `%s` (it has %s)"
                       % (name, ", ".join(self.batch._names) or "none"))

    def keys(self):
        return list(dict.keys(self))

    def values(self):
        return list(dict.values(self))

    def items(self):
        return list(dict.items(self))

    def to_dict(self):
        return dict(self)

    def __repr__(self):
        return "Row(%d, %r)" % (self.index, dict(self))

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


class _Row(Row):
    """The rows the runtime makes: built from (name, value) pairs by dict's own constructor,
    with no Python code per row."""

    __slots__ = ()
    __init__ = dict.__init__


_LAZY_TYPES = (DECIMAL2, DATETIME)


class _PartialRow(_Row):
    """A row made without some decimal2 or datetime fields that no row had read yet: reading
    one converts that column and adds the value (later rows then hold the field); the
    methods that see the whole row complete it first, so it behaves as a full `Row`."""

    __slots__ = ()

    def __missing__(self, name):
        batch = self.batch
        i = batch._index.get(name)
        if i is None:
            return Row.__missing__(self, name)
        value = batch.columns[i].values()[self.index]
        dict.__setitem__(self, name, value)
        if batch._wanted is not None:
            batch._read(name)
        return value

    def _complete(self):
        for name in self.batch._names:
            if not dict.__contains__(self, name):
                self.__missing__(name)
        return self

    def __contains__(self, name):
        return name in self.batch._index

    def __iter__(self):
        return iter(self.batch._names)

    def __reversed__(self):
        return reversed(self.batch._names)

    def __len__(self):
        return len(self.batch._names)

    def __eq__(self, other):
        return dict.__eq__(self._complete(), other)

    def __ne__(self, other):
        return dict.__ne__(self._complete(), other)

    def get(self, name, default=None):
        return self[name] if name in self.batch._index else dict.get(self, name, default)

    def keys(self):
        return list(self.batch._names)

    def values(self):
        return [self[name] for name in self.batch._names]

    def items(self):
        return [(name, self[name]) for name in self.batch._names]

    def to_dict(self):
        return {name: self[name] for name in self.batch._names}

    copy = to_dict

    def __repr__(self):
        return "Row(%d, %r)" % (self.index, self.to_dict())

    def pop(self, *args):
        return dict.pop(self._complete(), *args)

    def popitem(self):
        return dict.popitem(self._complete())

    def setdefault(self, name, default=None):
        return dict.setdefault(self._complete(), name, default)


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
    """An Arrow bitmap (least significant bit first) of the truth values in `bits`."""
    n = len(bits)
    if not n:
        return b""
    digits = bytes(map(bool, bits))[::-1].translate(_BITS_TO_DIGITS)
    return int(digits, 2).to_bytes((n + 7) // 8, "little")


def _encode_strings(strs):
    """(offsets, values) of a string column: `rows + 1` u32 offsets and the UTF-8 bytes."""
    joined = "".join(strs)
    data = joined.encode("utf-8")
    if len(data) == len(joined):  # ASCII: a str's length is its byte length
        lengths = map(len, strs)
    else:
        parts = list(map(str.encode, strs))
        lengths = map(len, parts)
    offs = array("I", accumulate(lengths, initial=0))
    return _le_bytes(offs), data


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
            offsets, values = _encode_strings(self._vals)
            return WireColumn(validity, offsets, values)
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


class _Raw:
    """An output value in raw form: set with `set_raw`, or converted when it was set."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


class _Unset:
    """The type of `_UNSET`, which stands for an output field the plugin did not set."""

    __slots__ = ()


_UNSET = _Unset()
_raw_of = attrgetter("v")

# Output values of these Python types are stored as they are when set, and checked and
# converted a column at a time when the batch ends; other values are converted when set.
_AS_IS = {INT: frozenset([int]), FLOAT: frozenset([float, int]),
          DECIMAL2: frozenset([Decimal, int]), STRING: frozenset([str]),
          BOOL: frozenset([bool]), DATETIME: frozenset()}

#: `Emit._ok` while no output row is open (a filter; a flat-map before its first push()).
_CLOSED = {}


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

    # _row: the open output row, a dict of the values set so far (or a list of raw values
    # after set_all_raw); _ok: output name → the value types kept as they are, or _CLOSED.
    __slots__ = ("_out", "_row", "_ok")

    def __init__(self, out):
        self._out = out
        self._row = {}
        self._ok = out.ok if out.kind in (MAP, FILTER_MAP) else _CLOSED

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
        out = self._out
        if out.kind != FLAT_MAP:
            raise _PluginBug("push() is for flat-map plugins, and this one is a %s" % out.kind)
        if self._ok is not _CLOSED:
            out.add(self._row)
        self._row = {}
        self._ok = out.ok
        if values:
            self.update(values)
        return self

    def __setitem__(self, name, value):
        if type(value) in self._ok.get(name, ()):
            try:
                self._row[name] = value
                return
            except TypeError:  # the row holds raw values from set_all_raw
                pass
        self._set(name, value)

    def set(self, name, value):
        if type(value) in self._ok.get(name, ()):
            try:
                self._row[name] = value
                return self
            except TypeError:  # the row holds raw values from set_all_raw
                pass
        self._set(name, value)
        return self

    def _set(self, name, value):
        """Sets a value that is not kept as it is (converted now), or reports a misuse."""
        out = self._out
        if self._ok is _CLOSED:
            raise _PluginBug("cannot set `%s`: %s" % (name, "call push() to start an output row"
                                                     if out.kind == FLAT_MAP else
                                                     "a filter has no output fields"))
        ty = out.types.get(name)
        if ty is None:
            raise _PluginBug("cannot set `%s`: the binding declares no such output (it has %s)"
                             % (name, ", ".join(out.names) or "none"))
        if value is not None and type(value) not in self._ok[name]:
            try:
                value = _Raw(_to_raw(ty, value))
            except (TypeError, ValueError, OverflowError) as e:
                raise _PluginBug("cannot set `%s` (%s) to %r: %s" % (name, ty, value, e)) \
                    from None
        self._dict_row()[name] = value

    def _dict_row(self):
        row = self._row
        if type(row) is not dict:  # raw values from set_all_raw
            row = self._row = dict(zip(self._out.names, map(_Raw, row)))
        return row

    def set_raw(self, name, raw):
        """Sets a field from its raw form (int hundredths for decimal2, int microseconds for
        datetime, else the Python value), unchecked: the fast path for plugins that convert
        values themselves."""
        if name not in self._ok:
            return self.set(name, raw)  # reports the misuse
        self._dict_row()[name] = None if raw is None else _Raw(raw)
        return self

    def set_all_raw(self, raws):
        """Sets every output field at once from raw forms in binding order, unchecked: the
        fast path for plugins that convert values themselves."""
        out = self._out
        if self._ok is _CLOSED or len(raws) != len(out.names):
            raise _PluginBug("set_all_raw needs an open output row and %d values, got %d"
                             % (len(out.names), len(raws)))
        self._row = list(raws)
        return self

    def update(self, values):
        ok = self._ok
        for name, value in values.items():
            row = self._row
            if type(value) in ok.get(name, ()) and type(row) is dict:
                row[name] = value
            else:
                self._set(name, value)
        return self


def _wire(ty, raws, valid):
    """A column in wire form from raw values; TypeError, ValueError or OverflowError for a
    raw value the type cannot hold."""
    validity = _pack_bits(valid) if valid is not None else None
    if ty == STRING:
        offsets, values = _encode_strings(raws)
        return WireColumn(validity, offsets, values)
    if ty == BOOL:
        return WireColumn(validity, None, _pack_bits(raws))
    return WireColumn(validity, None, _le_bytes(array("d" if ty == FLOAT else "q", raws)))


def _hundredths_of_decimals(values):
    return list(map(int, map(_SCALEB_UP, map(_QUANTIZE_CENT, values))))


def _hundredths_of_ints(values):
    return [v * 100 for v in values]


def _same(values):
    return values


# Per field type: (the value types converted a column at a time, how).
_COLUMN_FAST = {
    INT: ((frozenset([int]), _same),),
    FLOAT: ((frozenset([float, int]), _same),),
    DECIMAL2: ((frozenset([Decimal]), _hundredths_of_decimals),
               (frozenset([int]), _hundredths_of_ints)),
    STRING: ((frozenset([str]), _same),),
    BOOL: ((frozenset([bool]), _same),),
    DATETIME: (),
}
_RAW_ONLY = frozenset([_Raw])
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, ArithmeticError, UnicodeError)


def _encode_output(ty, name, values, input_row, raw=False):
    """One output column in wire form from the values set in each output row (Python values,
    `_Raw`, `None` for a null, `_UNSET`; raw values if `raw`). `input_row(k)` is the input row
    of output row `k`, for messages."""
    types = set(map(type, values))
    if not raw:
        for fast_types, convert in _COLUMN_FAST[ty]:
            if types <= fast_types:
                try:
                    return _wire(ty, convert(values), None)
                except _ENCODE_ERRORS:
                    break  # a value out of range: the slow path names it
        else:
            if types == _RAW_ONLY:
                values = list(map(_raw_of, values))
                raw = True
                types = set(map(type, values))
    if raw and type(None) not in types:
        try:
            return _wire(ty, values, None)
        except _ENCODE_ERRORS:
            pass
    # One value at a time: zeros for fields not set, nulls, conversions, and precise errors.
    zero = _ZERO_RAW[ty]
    raws = []
    valid = None
    for k, v in enumerate(values):
        if type(v) is _Raw:
            v = v.v
        elif v is _UNSET:
            v = zero
        elif v is not None and not raw:
            try:
                v = _to_raw(ty, v)
            except (TypeError, ValueError, OverflowError) as e:
                raise Failed("plugin bug at input row %d: cannot set `%s` (%s) to %r: %s"
                             % (input_row(k), name, ty, v, e)) from None
        if v is None:
            if valid is None:
                valid = [True] * k
            valid.append(False)
            v = zero
        elif valid is not None:
            valid.append(True)
        raws.append(v)
    try:
        return _wire(ty, raws, valid)
    except _ENCODE_ERRORS:
        for k, v in enumerate(raws):
            try:
                _wire(ty, [v], None)
            except _ENCODE_ERRORS as e:
                raise Failed("plugin bug at input row %d: `%s` (%s) cannot hold the raw value "
                             "%r: %s" % (input_row(k), name, ty, v, e)) from None
        raise


class _Out:
    """Output state of one batch: the output rows so far, each a dict of the values set (or
    a list of raw values from set_all_raw), encoded a column at a time by `finish`."""

    def __init__(self, kind, schema):
        self.kind = kind
        self.schema = schema
        self.names = [f.name for f in schema]
        self.types = {f.name: f.type for f in schema}
        self.ok = {f.name: _AS_IS[f.type] for f in schema}
        self.rows = []
        #: the input row of each output row (kept for all kinds but map)
        self.parents = array("I")
        self.keep = True
        self.current = 0

    def add(self, row):
        self.rows.append(row)
        self.parents.append(self.current)

    def finish(self, input_row):
        """The output columns in wire form (`WireColumn`s); `input_row(k)` is the input row
        of output row `k`, for messages. Raises `Failed` for a value a field cannot hold."""
        names = self.names
        rows = self.rows
        if not names:
            return []
        raw = False
        if not rows:
            cols = [[] for _ in names]
        else:
            kinds = set(map(type, rows))
            if kinds == {list}:  # every row from set_all_raw
                cols = list(zip(*rows))
                raw = True
            else:
                if list in kinds:
                    rows = [dict(zip(names, map(_Raw, r))) if type(r) is list else r
                            for r in rows]
                if len(names) == 1:
                    try:
                        cols = [list(map(itemgetter(names[0]), rows))]
                    except KeyError:
                        cols = None
                else:
                    try:
                        cols = list(zip(*map(itemgetter(*names), rows)))
                    except KeyError:
                        cols = None
                if cols is None:  # some fields were not set in some rows
                    cols = [list(map(methodcaller("get", name, _UNSET), rows)) for name in names]
        return [_encode_output(f.type, f.name, col, input_row, raw)
                for f, col in zip(self.schema, cols)]


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
        #: decimal2 and datetime fields that rows have read (see Batch._row_source)
        self._wanted = set()

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
        plugin = self.plugin
        try:
            plugin.begin_batch(batch)
        except PluginError:
            raise
        except Exception as e:
            raise Failed("begin_batch: %s" % _exception_line(e)) from None
        if kind == MAP:
            keep = None
            row_errors = self._map(batch, out, emit)
            if row_errors:
                failed = {r for r, _, _ in row_errors}
                input_row = [i for i in range(row_count) if i not in failed].__getitem__
            else:
                input_row = int
        else:
            keep, row_errors = self._rows(batch, out, emit)
            input_row = out.parents.__getitem__
        plugin.end_batch()
        columns = out.finish(input_row)
        return BatchResult(
            sum(keep) if kind == FILTER else len(out.rows),
            columns,
            _pack_bits(keep) if keep is not None else None,
            _le_bytes(out.parents) if kind == FLAT_MAP else None,
            row_errors,
        )

    def _map(self, batch, out, emit):
        """Runs a map plugin over the rows; its row errors."""
        process_row = self.plugin.process_row
        add = out.rows.append
        row_errors = []
        batch._wanted = self._wanted
        start = 0
        while True:
            names, it, make = batch._row_source(start)
            for i, values in enumerate(it, start):
                if batch._grew:  # a row read a field left out: rows hold it from now on
                    start = i
                    break
                row = make(zip(names, values))
                row.batch = batch
                row.index = i
                try:
                    process_row(row, emit)
                except RowError as e:
                    emit._row = {}
                    row_errors.append((i, e.field, e.message))
                    continue
                except _PluginBug as e:
                    raise Failed("plugin bug at input row %d: %s" % (i, e)) from None
                except PluginError:
                    raise
                except Exception as e:
                    raise Failed("input row %d: %s" % (i, _exception_line(e))) from None
                add(emit._row)
                emit._row = {}
            else:
                return row_errors

    def _rows(self, batch, out, emit):
        """Runs a filter, filter-map or flat-map plugin over the rows; (keep or None, row
        errors)."""
        kind = self.kind
        process_row = self.plugin.process_row
        rows = out.rows
        parents = out.parents
        keep = None if kind == FLAT_MAP else []
        row_errors = []
        batch._wanted = self._wanted
        start = 0
        while True:
            names, it, make = batch._row_source(start)
            for i, values in enumerate(it, start):
                if batch._grew:  # a row read a field left out: rows hold it from now on
                    start = i
                    break
                row = make(zip(names, values))
                row.batch = batch
                row.index = i
                first = len(rows)
                out.current = i
                out.keep = True
                emit._row = {}
                if kind == FLAT_MAP:
                    emit._ok = _CLOSED
                try:
                    process_row(row, emit)
                except RowError as e:
                    del rows[first:]
                    del parents[first:]
                    if keep is not None:
                        keep.append(False)
                    row_errors.append((i, e.field, e.message))
                    continue
                except _PluginBug as e:
                    raise Failed("plugin bug at input row %d: %s" % (i, e)) from None
                except PluginError:
                    raise
                except Exception as e:
                    raise Failed("input row %d: %s" % (i, _exception_line(e))) from None
                if kind == FLAT_MAP:
                    if emit._ok is not _CLOSED:
                        out.add(emit._row)
                elif kind == FILTER_MAP:
                    if out.keep:
                        out.add(emit._row)
                    keep.append(out.keep)
                else:
                    keep.append(out.keep)
            else:
                emit._row = {}
                return keep, row_errors


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
    # componentize-py itself imports `random` after the app module: load it before sealing.
    import random  # noqa: F401
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
