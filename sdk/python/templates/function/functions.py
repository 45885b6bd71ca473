"""{{name}}: Vessel functions for script expressions, called as `<namespace>.<name>(...)`,
the namespace being the one the script's `functions` section gives the component:
`functions: {txt: path/to/{{name}}.wasm}`, then `txt.upper(r.name)`.

componentize-py looks the export, `Functions`, up in this module. Build it with
`vessel plugin build`, try it with `vessel plugin test . --input sample.csv` (it calls each
function on the first sample columns of its parameter types), and test it with
`python3 -m unittest discover -s tests`.

Each function takes and returns scalar values (int, float, Decimal for decimal2, str, bool,
datetime); the SDK turns the host's columns into calls, one per row. An exception fails the
call.
"""

import vessel_functions as vf


@vf.function(params=[vf.STRING], returns=vf.STRING)
def upper(s):
    """The text in upper case."""
    return s.upper()


# The types can also come from annotations: int, float, Decimal, str, bool, datetime.
@vf.function
def add_one(n: int) -> int:
    """The integer plus one (a result beyond 64 bits fails the call)."""
    return n + 1


Functions = vf.export(upper, add_one)

# Inside the component, importing a module not loaded by now raises ImportError.
vf.seal_imports()
