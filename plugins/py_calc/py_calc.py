"""`py_calc`: Capillaries' Python custom processor, as a Vessel plugin running its Python
inside the component.

Node parameters (`p`):

* `python_code_urls`: files whose texts, joined with newlines, make up the code base. Plugins
  read no files: the host passes the texts as `python_code_urls_content`;
* `calculated_fields`: `{name: {expression, type}}`; each produces `p.<name>` of that type
  (`int`, `float`, `decimal2`, `string`, `bool`, `datetime`).

Checks when the node is opened (all name the field and the expression):

* an expression is a call `f(args)` or a plain field `r.x` / `p.y`; arguments are fields,
  literals (a number may have a sign), nested calls or bare names (passed to Python as they
  are, e.g. a class);
* every call `f(N args)` is a function the code defines at top level with `def` and that
  takes N positional arguments, or one of `str int float round len bool abs` with 1
  argument (Capillaries' rule);
* `r.x` is a field of the input (else `schema-mismatch`), `p.y` another calculated field;
  the `p.*` references must not form a cycle. Fields are computed in dependency order
  (Kahn's algorithm; among fields that are ready, the one declared first);
* the code compiles and runs (it runs once per instance, at open).

Per input row, as Capillaries' generated program does: the input fields are bound as
`r_<field>` and each calculated field as `p_<field>`, globals of the code's namespace, the
expressions being evaluated with `r.` → `r_` and `p.` → `p_`. Only the `r.*` fields the
expressions use are read, so only those are bound (Capillaries binds every field of the
input table). Values reach Python as Capillaries passes them:

| type | Python value |
|---|---|
| int | int |
| float | float, rounded to 6 decimals (Capillaries prints it with `%f`) |
| decimal2 | float (Capillaries prints the decimal, Python reads a float literal) |
| string | str |
| bool | bool (Capillaries writes `TRUE`/`FALSE`, which Python cannot read: fixed here) |
| datetime | str `YYYY-MM-DDThh:mm:ss.mmm+00:00` (UTC) |

A `p_*` value seen by a later expression is the raw Python result, not yet converted.
Results are converted by the declared type: `int` ← int, or a float truncated toward zero;
`float` ← int or float; `decimal2` ← int exactly, or a float as its shortest round-trip
decimal rounded to 2 places half away from zero; `string` ← str; `bool` ← bool;
`datetime` ← str in exactly the form above (3 millisecond digits, offset `±hh:mm`; any
offset), or an aware `datetime.datetime` (naive: UTC). Anything else fails the batch.

As in Capillaries, any error in a row (a Python exception or a result that does not
convert) fails the whole batch; the message names the input row, the field, its
expression, the last line of the traceback, where in the code it was raised and the row's
`r.*` values.

The output schema lists the calculated fields in the order `calculated_fields` gives them
(the engine maps them by name); `reads` lists the `r.*` fields the expressions use, in
input order.

Sandbox notes: the component has no files, clock or network. The code can import only the
modules preloaded into the component (see `processor.py`); importing another raises
ImportError. `print` goes to the host log.
"""

import ast
import builtins
import math
from datetime import datetime

import vessel_plugin as vp

#: Built-ins an expression may call with one argument (Capillaries' list).
ALLOWED_BUILTINS = ("str", "int", "float", "round", "len", "bool", "abs")

_ROW_FILE = "<py_calc row>"
_CODE_FILE = "<python code>"

PARAMS_SCHEMA = """{
  "type": "object",
  "required": ["calculated_fields"],
  "properties": {
    "python_code_urls": {"type": "array", "items": {"type": "string"}},
    "python_code_urls_content": {"type": "array", "items": {"type": "string"}},
    "calculated_fields": {
      "type": "object",
      "additionalProperties": {
        "type": "object",
        "required": ["expression", "type"],
        "properties": {
          "expression": {"type": "string"},
          "type": {"enum": ["int", "float", "decimal2", "string", "bool", "datetime"]}
        }
      }
    }
  }
}"""


class CalcField:
    """One calculated field: its declaration, parsed expression and dependencies."""

    def __init__(self, name, type, expression, tree, reads, deps):
        self.name = name
        self.type = type
        self.expression = expression
        self.tree = tree
        self.reads = reads
        self.deps = deps

    def describe(self):
        return "calculated field `%s` (%s) = `%s`" % (self.name, self.type, self.expression)


# ---------------------------------------------------------------------------------------
# Parameters


def _code_text(params):
    """The code base: the texts of `python_code_urls`, joined with newlines, and where each
    file starts (for messages)."""
    urls = params.get("python_code_urls")
    texts = params.get("python_code_urls_content")
    if urls is None and texts is None:
        raise vp.InvalidParams(
            "python_code_urls is required: a list of Python files whose functions the "
            "calculated fields call")
    if urls is not None and (not isinstance(urls, list)
                             or not all(isinstance(u, str) for u in urls)):
        raise vp.InvalidParams("python_code_urls must be a list of file paths or URLs")
    if texts is None:
        raise vp.InvalidParams(
            "python_code_urls_content is missing: the host passes the texts of "
            "python_code_urls under that key (plugins cannot read files)")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise vp.InvalidParams("python_code_urls_content must be a list of texts")
    names = list(urls) if urls is not None and len(urls) == len(texts) else \
        ["python_code_urls[%d]" % i for i in range(len(texts))]
    starts = []
    line = 1
    parts = []
    for name, text in zip(names, texts):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        starts.append((line, name))
        parts.append(text)
        line += text.count("\n") + 1
    return "\n".join(parts), starts


def _where(line, starts):
    """`file line k` of a line of the joined code."""
    name, first = "python code", 1
    for s, n in starts:
        if s <= line:
            first, name = s, n
    return "%s line %d" % (name, line - first + 1)


def _snippet(code, line, around=2):
    lines = code.split("\n")
    lo, hi = max(1, line - around), min(len(lines), line + around)
    return "\n".join("%s%5d | %s" % (">" if i == line else " ", i, lines[i - 1])
                     for i in range(lo, hi + 1))


def _fields_param(params):
    spec = params.get("calculated_fields")
    if spec is None:
        raise vp.InvalidParams(
            "calculated_fields is required: {name: {expression: ..., type: ...}} for each "
            "produced field p.<name>")
    if not isinstance(spec, dict) or not spec:
        raise vp.InvalidParams("calculated_fields must be a non-empty object "
                               "{name: {expression: ..., type: ...}}")
    out = []
    for name, decl in spec.items():
        if not name.isidentifier() or not name.isascii():
            raise vp.InvalidParams(
                "calculated field `%s`: the name must be letters, digits and `_`, not "
                "starting with a digit (it becomes the Python variable p_%s)" % (name, name))
        if not isinstance(decl, dict):
            raise vp.InvalidParams("calculated field `%s` must be an object with expression "
                                   "and type" % name)
        expr = decl.get("expression")
        ty = decl.get("type")
        if not isinstance(expr, str) or not expr.strip():
            raise vp.InvalidParams("calculated field `%s` has no expression" % name)
        if ty not in vp.FIELD_TYPES:
            raise vp.InvalidParams("calculated field `%s` = `%s`: type %r is not one of %s"
                                   % (name, expr, ty, ", ".join(vp.FIELD_TYPES)))
        unknown = sorted(set(decl) - {"expression", "type"})
        if unknown:
            raise vp.InvalidParams("calculated field `%s`: unknown key%s %s (expected "
                                   "expression and type)" % (name, "s" if len(unknown) > 1
                                                             else "", ", ".join(unknown)))
        out.append((name, ty, expr))
    return out


# ---------------------------------------------------------------------------------------
# Code and expressions


def _defined_functions(tree):
    """Top-level `def`s of the code: name → (min, max) positional arguments (max None when
    it takes *args), or None when it has keyword-only arguments without defaults."""
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            positional = len(a.posonlyargs) + len(a.args)
            required = positional - len(a.defaults)
            kw_required = any(d is None for d in a.kw_defaults)
            defs[node.name] = None if kw_required else \
                (required, None if a.vararg else positional)
    return defs


def _arity_text(arity):
    lo, hi = arity
    if hi is None:
        return "at least %d argument%s" % (lo, "" if lo == 1 else "s")
    if lo == hi:
        return "%d argument%s" % (lo, "" if lo == 1 else "s")
    return "%d to %d arguments" % (lo, hi)


class _ExprChecker:
    """Checks one expression against Capillaries' rules and collects its references."""

    def __init__(self, field, expr, defs, input_names, calc_names):
        self.field = field
        self.expr = expr
        self.defs = defs
        self.input_names = input_names
        self.calc_names = calc_names
        self.reads = []
        self.deps = []

    def fail(self, what, cls=vp.InvalidParams):
        raise cls("calculated field `%s` = `%s`: %s" % (self.field, self.expr, what))

    def text(self, node):
        try:
            return ast.unparse(node)
        except Exception:
            return type(node).__name__

    def selector(self, node):
        """`r.x` / `p.y` → True (recorded); other attribute uses fail."""
        base = node.value
        if not isinstance(base, ast.Name) or base.id not in ("r", "p"):
            self.fail("`%s` is not a field: fields are r.<input field> or p.<calculated "
                      "field>" % self.text(node))
        name = node.attr
        if base.id == "r":
            if name not in self.input_names:
                self.fail("r.%s is not a field of the input (it has %s)" % (
                    name, ", ".join(sorted(self.input_names)) or "no fields"),
                    vp.SchemaMismatch)
            if name not in self.reads:
                self.reads.append(name)
        else:
            if name not in self.calc_names:
                self.fail("p.%s is not a calculated field (they are %s)" % (
                    name, ", ".join(self.calc_names)))
            if name not in self.deps:
                self.deps.append(name)

    def top(self, node):
        if isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Attribute):
            self.selector(node)
        else:
            self.fail("the expression must be a function call f(...) or a field r.x / p.y")

    def call(self, node):
        if not isinstance(node.func, ast.Name):
            self.fail("`%s` calls `%s`; call a function by its name: one defined in "
                      "python_code_urls, or %s" % (self.text(node), self.text(node.func),
                                                   ", ".join(ALLOWED_BUILTINS)))
        name = node.func.id
        if node.keywords:
            self.fail("`%s`: keyword arguments are not supported" % self.text(node))
        n = len(node.args)
        if name in self.defs:
            arity = self.defs[name]
            if arity is None:
                self.fail("%s() has keyword-only parameters without defaults, so `%s` "
                          "cannot call it" % (name, self.text(node)))
            lo, hi = arity
            if n < lo or (hi is not None and n > hi):
                self.fail("`%s` passes %d argument%s, but %s() takes %s" % (
                    self.text(node), n, "" if n == 1 else "s", name, _arity_text(arity)))
        elif name in ALLOWED_BUILTINS:
            if n != 1:
                self.fail("`%s` passes %d arguments; the built-in %s() may be called with "
                          "1 argument only" % (self.text(node), n, name))
        else:
            self.fail("`%s(%s)` is not defined: define `def %s(...)` taking %d "
                      "argument%s in python_code_urls, or use a built-in (%s)" % (
                          name, ", ".join(["..."] * n) if n else "", name, n,
                          "" if n == 1 else "s", ", ".join(ALLOWED_BUILTINS)))
        for i, arg in enumerate(node.args):
            self.arg(arg, node, i)

    def arg(self, node, call, i):
        if isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Attribute):
            self.selector(node)
        elif isinstance(node, ast.Constant):
            pass
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
                and isinstance(node.operand, ast.Constant) \
                and isinstance(node.operand.value, (int, float, complex)) \
                and not isinstance(node.operand.value, bool):
            pass
        elif isinstance(node, ast.Name):
            if node.id in ("r", "p"):
                self.fail("`%s` alone is not a field: write %s.<field>" % (node.id, node.id))
        else:
            self.fail("argument %d of `%s` is `%s`; arguments must be fields (r.x, p.y), "
                      "literals, function calls or names" % (i + 1, self.text(call),
                                                             self.text(node)))


class _Rename(ast.NodeTransformer):
    """`r.x` → `r_x`, `p.y` → `p_y`."""

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in ("r", "p"):
            return ast.copy_location(ast.Name(id="%s_%s" % (node.value.id, node.attr),
                                              ctx=ast.Load()), node)
        return self.generic_visit(node)


def _order(fields):
    """Kahn's algorithm over the `p.*` dependencies; ties go to the field declared first.
    A cycle is an InvalidParams naming it."""
    index = {f.name: i for i, f in enumerate(fields)}
    pending = {f.name: set(f.deps) for f in fields}
    order = []
    while pending:
        ready = [n for n, deps in pending.items() if not deps]
        if not ready:
            raise vp.InvalidParams("calculated fields depend on each other in a cycle: %s"
                                   % _cycle_text(fields, pending))
        first = min(ready, key=index.get)
        order.append(fields[index[first]])
        del pending[first]
        for deps in pending.values():
            deps.discard(first)
    return order


def _cycle_text(fields, pending):
    by_name = {f.name: f for f in fields}
    start = min(pending, key=lambda n: [f.name for f in fields].index(n))
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = min(pending[node], key=lambda n: [f.name for f in fields].index(n))
        if node in seen:
            cycle = path[seen[node]:] + [node]
            break
        seen[node] = len(path)
        path.append(node)
    return " -> ".join("p.%s (`%s`)" % (n, by_name[n].expression) for n in cycle[:-1]) + \
        " -> p.%s" % cycle[-1]


# ---------------------------------------------------------------------------------------
# Values


def _float_literal(x):
    """Capillaries prints a float with %f (6 decimals) into the generated program."""
    if math.isfinite(x):
        return float("%f" % x)
    return x


def _input_values(col):
    """A column's values as py_calc passes them to Python (see the module docs)."""
    raw = col.raw
    ty = col.type
    if ty == vp.DECIMAL2:
        return [c / 100 for c in raw]
    if ty == vp.DATETIME:
        return [vp.format_iso_millis(us) for us in raw]
    if ty == vp.FLOAT:
        return [_float_literal(x) for x in raw]
    return list(raw)


def _to_int(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("an int needs a number, not %s" % _type_text(v))
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("%r is not an int" % v)
        v = int(v)  # truncates toward zero, as Capillaries' float64 → int64
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError("%d does not fit in a 64-bit int" % v)
    return v


def _to_float(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("a float needs a number, not %s" % _type_text(v))
    return float(v)


def _to_decimal2(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("a decimal2 needs a number, not %s" % _type_text(v))
    return vp.decimal_to_hundredths(v)


def _to_string(v):
    if not isinstance(v, str):
        raise TypeError("a string needs a str, not %s" % _type_text(v))
    return v


def _to_bool(v):
    if not isinstance(v, bool):
        raise TypeError("a bool needs True or False, not %s" % _type_text(v))
    return v


def _to_datetime(v):
    if isinstance(v, str):
        return vp.parse_iso_millis(v)
    if isinstance(v, datetime):
        return vp.datetime_to_micros(v)
    raise TypeError("a datetime needs a str in the form YYYY-MM-DDThh:mm:ss.mmm+hh:mm, "
                    "not %s" % _type_text(v))


_CONVERT = {vp.INT: _to_int, vp.FLOAT: _to_float, vp.DECIMAL2: _to_decimal2,
            vp.STRING: _to_string, vp.BOOL: _to_bool, vp.DATETIME: _to_datetime}


def _type_text(v):
    text = repr(v)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s %s" % (type(v).__name__, text)


# ---------------------------------------------------------------------------------------
# The processor


class PyCalc(vp.Processor):
    """Computes fields with user Python functions (Capillaries' py_calc)."""

    name = "py_calc"
    version = "0.1.0"
    kind = vp.MAP
    params_schema = PARAMS_SCHEMA

    def open(self, ctx):
        params = ctx.params
        code, starts = _code_text(params)
        decls = _fields_param(params)
        try:
            tree = ast.parse(code, filename=_CODE_FILE)
        except SyntaxError as e:
            line = e.lineno or 1
            raise vp.InvalidParams("python code does not compile: %s at %s\n%s" % (
                e.msg, _where(line, starts), _snippet(code, line))) from None
        defs = _defined_functions(tree)
        input_names = {f.name: f.type for f in ctx.input_schema}
        calc_names = [name for name, _, _ in decls]
        fields = []
        for name, ty, expr in decls:
            try:
                etree = ast.parse(expr.strip(), mode="eval")
            except SyntaxError as e:
                raise vp.InvalidParams("calculated field `%s` = `%s`: not an expression: %s"
                                       % (name, expr, e.msg)) from None
            chk = _ExprChecker(name, expr, defs, input_names, calc_names)
            chk.top(etree.body)
            if name in chk.deps:
                raise vp.InvalidParams("calculated field `%s` = `%s` refers to itself"
                                       % (name, expr))
            fields.append(CalcField(name, ty, expr, etree, chk.reads, chk.deps))
        order = _order(fields)
        used = {r for f in fields for r in f.reads}
        reads = [f.name for f in ctx.input_schema if f.name in used]

        # Run the code once; its globals are where rows are evaluated.
        ns = {"__name__": "py_calc_code", "__builtins__": builtins}
        try:
            exec(compile(tree, _CODE_FILE, "exec"), ns)
        except Exception as e:
            line = _code_line(e)
            where = " at %s" % _where(line, starts) if line else ""
            raise vp.InvalidParams("python code failed when run%s: %s" % (
                where, vp._exception_line(e))) from None
        for f in fields:
            for node in ast.walk(f.tree):
                if isinstance(node, ast.Call) and node.func.id in defs \
                        and not callable(ns.get(node.func.id)):
                    raise vp.InvalidParams("calculated field `%s` = `%s`: %s is not a "
                                           "function once the code has run" % (
                                               f.name, f.expression, node.func.id))

        # One function per row: bind r_*, compute p_* in dependency order (one line per
        # field, so that a traceback's line names the field), return the results.
        lines = ["def __py_calc_row(__values):"]
        if reads:
            lines.append("    global " + ", ".join(["r_" + r for r in reads] +
                                                   ["p_" + f.name for f in order]))
            lines.append("    " + ", ".join("r_" + r for r in reads) +
                         (", = __values" if len(reads) == 1 else " = __values"))
        else:
            lines.append("    global " + ", ".join("p_" + f.name for f in order))
        self.line_field = {}
        for f in order:
            renamed = ast.fix_missing_locations(_Rename().visit(f.tree))
            self.line_field[len(lines) + 1] = f
            lines.append("    p_%s = %s" % (f.name, ast.unparse(renamed.body)))
        lines.append("    return (%s)" % "".join("p_%s, " % f.name for f in fields))
        exec(compile("\n".join(lines) + "\n", _ROW_FILE, "exec"), ns)
        self.row_fn = ns["__py_calc_row"]
        self.starts = starts
        self.ns = ns
        self.fields = fields
        self.reads = reads
        self.converts = [_CONVERT[f.type] for f in fields]
        self.values = None
        vp.log.debug("py_calc: %d calculated fields over %d input fields; order %s" % (
            len(fields), len(reads), ", ".join(f.name for f in order)))
        return vp.Binding(reads=reads, outputs=[(f.name, f.type) for f in fields])

    def begin_batch(self, batch):
        cols = [_input_values(c) for c in batch.columns]
        self.values = list(zip(*cols)) if cols else [()] * len(batch)

    def process_row(self, row, emit):
        values = self.values[row.index]
        try:
            results = self.row_fn(values)
        except Exception as e:
            f = self._failing_field(e)
            what = f.describe() if f else "the row"
            line = _code_line(e)
            where = " (at %s)" % _where(line, self.starts) if line else ""
            raise vp.Failed("input row %d: %s: %s%s%s" % (
                row.index, what, vp._exception_line(e), where,
                self._row_text(values))) from None
        try:
            raws = [convert(value) for convert, value in zip(self.converts, results)]
        except (TypeError, ValueError):
            for f, convert, value in zip(self.fields, self.converts, results):
                try:
                    convert(value)
                except (TypeError, ValueError) as e:
                    raise vp.Failed("input row %d: %s returned %s: %s%s" % (
                        row.index, f.describe(), _type_text(value), e,
                        self._row_text(values))) from None
            raise
        emit.set_all_raw(raws)

    def end_batch(self):
        self.values = None

    def _failing_field(self, e):
        """The calculated field whose line raised `e` (innermost frame of the row
        function)."""
        tb = e.__traceback__
        field = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == _ROW_FILE:
                field = self.line_field.get(tb.tb_lineno, field)
            tb = tb.tb_next
        return field

    def _row_text(self, values):
        text = ", ".join("r.%s=%r" % (n, v) for n, v in zip(self.reads, values))
        if len(text) > 400:
            text = text[:397] + "..."
        return " (row: %s)" % text if text else ""


def _code_line(e):
    """Line of the user's code where `e` was raised (innermost frame in that code)."""
    line = None
    if isinstance(e, SyntaxError) and e.filename == _CODE_FILE:
        line = e.lineno
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _CODE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
