"""The Python SDK for Vessel function plugins built with componentize-py.

A function plugin offers scalar functions that script expressions call as
`<namespace>.<function>(args)` (the `function-plugin` world of `wit/processor.wit`). The host
calls a function once per batch, with one column per argument; this module decodes the
columns, calls your plain Python function once per row with scalar values, and encodes the
results into one column. A plugin is a module `functions.py`:

    import vessel_functions as vf

    @vf.function(params=[vf.STRING], returns=vf.STRING)
    def upper(s):
        \"\"\"The text in upper case.\"\"\"
        return s.upper()

    @vf.function                      # types from the annotations
    def add_one(n: int) -> int:
        \"\"\"The integer plus one.\"\"\"
        return n + 1

    Functions = vf.export(upper, add_one)

componentize-py looks the export up in that module: build with `vessel plugin build` (or
`componentize-py -d wit -w function-plugin componentize --stub-wasi -p . -p sdk functions
-o plugin.wasm`). The decorated functions stay plain functions, so tests call them directly;
`Harness` runs them through the same codec as the component.

Values by field type are those of `vessel_plugin` (this module uses its codec): int → int,
float → float, decimal2 → `decimal.Decimal` with two places, string → str, bool → bool,
datetime → aware UTC `datetime.datetime`. A decimal2 result may also be an int or a float (its
shortest decimal, rounded half away from zero), a float result an int, a datetime result a
naive datetime (taken as UTC).

Errors: an exception raised by a function, or a result that does not fit the declared type
(including None), fails the call, and with it the batch, with a message naming the function
and the row.
"""

import re
import sys
from datetime import datetime
from decimal import Decimal

import vessel_plugin as _vp
from vessel_plugin import (  # noqa: F401  (re-exported for plugin authors)
    BOOL, DATETIME, DECIMAL2, FIELD_TYPES, FLOAT, INT, STRING, Failed, PluginError,
)

from vessel_plugin import (  # noqa: F401  (log, log_enabled, local_log: re-exported)
    _WitErr, _exception_line, _wt, local_log, log, log_enabled,
)

try:  # Inside a component built for the function-plugin world: the exports.
    from wit_world import exports as _wit_exports
    from wit_world.exports import functions as _wf
except ImportError:  # Plain CPython, or a component of another world.
    _wit_exports = _wf = None

__all__ = [
    "INT", "FLOAT", "DECIMAL2", "STRING", "BOOL", "DATETIME", "FIELD_TYPES",
    "Decimal", "datetime", "Failed", "PluginError",
    "function", "Function", "Signature", "export", "seal_imports", "log", "log_enabled",
    "Harness",
]

#: Function names the host accepts (`wit/processor.wit`, `signature.name`).
_NAME = re.compile(r"[a-z_][a-z0-9_]*", re.ASCII)

#: Each field type with its article, for messages.
_A = {INT: "an int", FLOAT: "a float", DECIMAL2: "a decimal2", STRING: "a string",
      BOOL: "a bool", DATETIME: "a datetime"}

#: Field types of annotations: the classes, and their names for string annotations.
_ANNOTATIONS = {
    int: INT, float: FLOAT, Decimal: DECIMAL2, str: STRING, bool: BOOL, datetime: DATETIME,
    "int": INT, "float": FLOAT, "Decimal": DECIMAL2, "decimal.Decimal": DECIMAL2,
    "str": STRING, "bool": BOOL, "datetime": DATETIME, "datetime.datetime": DATETIME,
}


# ---------------------------------------------------------------------------------------
# Declaring functions


class Signature(tuple):
    """What `list-functions` reports for one function: `name`, `params` (field types),
    `returns`, `description`."""

    __slots__ = ()

    def __new__(cls, name, params, returns, description):
        return tuple.__new__(cls, (name, tuple(params), returns, description))

    name = property(lambda self: self[0])
    params = property(lambda self: self[1])
    returns = property(lambda self: self[2])
    description = property(lambda self: self[3])

    def __repr__(self):
        return "Signature(%r, %r, %r, %r)" % self


class Function:
    """A Python function with its Vessel signature; `@function` attaches one to the function
    it decorates (as `fn.vessel_function`)."""

    __slots__ = ("fn", "signature")

    def __init__(self, fn, params, returns, name, description):
        where = "@vessel_functions.function on %s" % getattr(fn, "__qualname__", repr(fn))
        if not callable(fn):
            raise TypeError("%s: not a function" % where)
        if name is None:
            name = fn.__name__
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError("%s: the name %r is not usable in expressions; use [a-z_][a-z0-9_]* "
                             "(pass name=...)" % (where, name))
        if params is None or returns is None:
            hinted_params, hinted_returns = _from_annotations(fn, where)
            params = hinted_params if params is None else params
            returns = hinted_returns if returns is None else returns
        if isinstance(params, str):
            raise TypeError("%s: params must be a list of field types, such as [%r]"
                            % (where, params))
        params = [_field_type(t, where, "parameter %d" % (k + 1)) for k, t in enumerate(params)]
        returns = _field_type(returns, where, "result")
        if description is None:
            description = (fn.__doc__ or "").strip().split("\n")[0].strip()
        self.fn = fn
        self.signature = Signature(name, params, returns, description)

    def __repr__(self):
        return "Function(%r)" % (self.signature,)


def _field_type(t, where, what):
    if isinstance(t, str) and t in FIELD_TYPES:
        return t
    ty = _ANNOTATIONS.get(t) if isinstance(t, (type, str)) else None
    if ty is None:
        raise ValueError("%s: %s has type %r; use one of %s (vessel_functions.INT, ...) or the "
                         "classes int, float, Decimal, str, bool, datetime"
                         % (where, what, t, ", ".join(FIELD_TYPES)))
    return ty


def _from_annotations(fn, where):
    code = getattr(fn, "__code__", None)
    if code is None:
        raise TypeError("%s: give params=[...] and returns=... (it has no annotations to read)"
                        % where)
    names = code.co_varnames[:code.co_argcount]
    hints = getattr(fn, "__annotations__", {}) or {}
    missing = [n for n in names if n not in hints] + ([] if "return" in hints else ["return"])
    if missing:
        raise TypeError("%s: annotate %s, or give params=[...] and returns=..."
                        % (where, ", ".join(missing)))
    return [hints[n] for n in names], hints["return"]


def function(fn=None, *, params=None, returns=None, name=None, description=None):
    """Declares a function for expressions: `@function(params=[INT, STRING], returns=FLOAT)`,
    or plain `@function` on a function whose parameters and result are annotated with `int`,
    `float`, `Decimal`, `str`, `bool` or `datetime`. `name` defaults to the function's name,
    `description` to the first line of its docstring. The function itself is returned
    unchanged, with its declaration in `fn.vessel_function`."""

    def wrap(f):
        f.vessel_function = Function(f, params, returns, name, description)
        return f

    return wrap if fn is None else wrap(fn)


def _function_of(f):
    if isinstance(f, Function):
        return f
    decl = getattr(f, "vessel_function", None)
    if not isinstance(decl, Function):
        raise TypeError("%r is not declared with @vessel_functions.function" % (f,))
    return decl


# ---------------------------------------------------------------------------------------
# Calling over columns


class FunctionSet:
    """The functions of a component: `signatures()` and `call(name, args, rows)` over wire
    columns. The export glue and `Harness` drive it."""

    def __init__(self, functions):
        self.functions = [_function_of(f) for f in functions]
        if not self.functions:
            raise ValueError("vessel_functions.export needs at least one function")
        self.index = {}
        for f in self.functions:
            n = f.signature.name
            if n in self.index:
                raise ValueError("two functions are named `%s`; pass name=... to one of them" % n)
            self.index[n] = f

    def signatures(self):
        return [f.signature for f in self.functions]

    def call(self, name, args, rows):
        """Evaluates function `name` over `rows` rows of `args` (wire columns, objects with
        `values`, `offsets` and `validity`); returns the result as a `vessel_plugin`
        `WireColumn`. Raises `Failed` when the call fails."""
        f = self.index.get(name)
        if f is None:
            raise Failed("no function `%s` in this component; it has %s"
                         % (name, ", ".join(sorted(self.index))))
        sig = f.signature
        args = list(args)
        if len(args) != len(sig.params):
            raise Failed("function `%s` takes %d arguments, the call passed %d"
                         % (name, len(sig.params), len(args)))
        try:
            cols = [_vp.Column.decode("argument %d" % (k + 1), ty, rows, c.values, c.offsets,
                                      c.validity).to_list()
                    for k, (ty, c) in enumerate(zip(sig.params, args))]
        except PluginError as e:
            raise Failed("function `%s`: %s" % (name, e.message)) from None
        out = _vp.ColumnBuilder(sig.returns)
        append = out.append
        fn = f.fn
        rows_of_args = zip(*cols) if cols else ((),) * rows
        for i, a in enumerate(rows_of_args):
            try:
                r = fn(*a)
            except Exception as e:
                raise Failed("function `%s`, row %d: %s" % (name, i, _exception_line(e))) \
                    from None
            if r is None:
                raise Failed("function `%s`, row %d: returned None; it must return %s"
                             % (name, i, _A[sig.returns]))
            try:
                append(r)
            except (TypeError, ValueError) as e:
                raise Failed("function `%s`, row %d: returned %r, which is not %s: %s"
                             % (name, i, r, _A[sig.returns], e)) from None
        return out.finish()


# ---------------------------------------------------------------------------------------
# Export glue


def export(*functions):
    """The class componentize-py looks up in the app module, `Functions`: write
    `Functions = vessel_functions.export(fn1, fn2, ...)` in `functions.py`, listing the
    functions declared with `@function`. On plain CPython the class works too, on wire
    columns (as `Harness` uses it)."""
    fset = FunctionSet(functions)

    if _wf is None:
        class FunctionsExport:
            vessel_functions = fset

            def list_functions(self):
                return fset.signatures()

            def call(self, name, args, rows):
                return fset.call(name, args, rows)

        FunctionsExport.__name__ = FunctionsExport.__qualname__ = "Functions"
        return FunctionsExport

    wit_types = {t: _wt.FieldType[t.upper()] for t in FIELD_TYPES}
    signatures = [_wf.Signature(s.name, [wit_types[t] for t in s.params], wit_types[s.returns],
                                s.description) for s in fset.signatures()]

    class FunctionsExport(_wit_exports.Functions):
        vessel_functions = fset

        def list_functions(self):
            _redirect_stdio()
            return list(signatures)

        def call(self, name, args, rows):
            _redirect_stdio()
            try:
                c = fset.call(name, args, rows)
            except PluginError as e:
                raise _WitErr(_wt.Error_Failed(e.message)) from None
            except Exception as e:
                raise _WitErr(_wt.Error_Failed("function `%s`: %s" % (name, _exception_line(e)))) \
                    from None
            return _wt.Column(c.validity, c.offsets, c.values)

    FunctionsExport.__name__ = FunctionsExport.__qualname__ = "Functions"
    return FunctionsExport


def seal_imports(hint=""):
    """Call at the end of `functions.py`: inside a component, importing a module that was
    not loaded at build time then raises ImportError (with `hint`) instead of trapping (see
    `vessel_plugin.seal_imports`). On plain CPython it does nothing, so tests can import
    `functions.py`."""
    if _wf is None:
        return
    _vp.seal_imports(hint)


def _redirect_stdio():
    # Done on the first call rather than at import: the import runs at build time, when
    # the host is not there to log to.
    if not isinstance(sys.stdout, _vp._LogStream):
        sys.stdout = _vp._LogStream("info")
        sys.stderr = _vp._LogStream("warn")


# ---------------------------------------------------------------------------------------
# Testing on the build machine


class Harness:
    """Calls functions on plain CPython through the same codec as the component:
    `Harness(upper, add_one)` (or `Harness(Functions)`, the class `export` made), then
    `call("upper", [("ab",), ("cd",)])` with one tuple of arguments per row → the results.
    Raises `Failed` when the call fails, as the component would."""

    def __init__(self, *functions):
        if len(functions) == 1 and isinstance(getattr(functions[0], "vessel_functions", None),
                                              FunctionSet):
            self.functions = functions[0].vessel_functions
        else:
            self.functions = FunctionSet(functions)

    def signatures(self):
        return self.functions.signatures()

    def call(self, name, arg_rows):
        f = self.functions.index.get(name)
        params = f.signature.params if f is not None else ()
        builders = [_vp.ColumnBuilder(t) for t in params]
        rows = 0
        for row in arg_rows:
            row = tuple(row)
            if len(row) != len(params):
                raise ValueError("row %d has %d arguments, `%s` takes %d"
                                 % (rows, len(row), name, len(params)))
            for b, v in zip(builders, row):
                b.append(v)
            rows += 1
        col = self.functions.call(name, [b.finish() for b in builders], rows)
        return _vp.Column.decode("result", f.signature.returns, rows, col.values, col.offsets,
                                 col.validity).to_list()
