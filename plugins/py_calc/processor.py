"""Entry module of the py_calc component (componentize-py looks the exports up here).

Build (what building Vessel does, see host/builtins/build.rs and host/plugin-build):

    componentize-py -d wit -w processor-plugin componentize --stub-wasi \\
        -p plugins/py_calc -p sdk/python processor -o py_calc.wasm

componentize-py runs this module at build time and snapshots the interpreter. A component
has no files, so at run time Python can import only modules already loaded by then: the
modules below are preloaded for the user code of py_calc nodes, and importing anything else
raises ImportError (instead of trapping on the missing file system): see
`vessel_plugin.seal_imports`.
"""

import sys

# Standard modules user code may import (loaded now, served from sys.modules later).
_PRELOAD = (
    "math", "cmath", "datetime", "time", "calendar", "decimal", "fractions",
    "numbers", "statistics", "random", "json", "re", "string", "textwrap", "unicodedata",
    "itertools", "functools", "operator", "collections", "collections.abc", "heapq",
    "bisect", "copy", "enum", "dataclasses", "typing", "struct", "base64", "binascii",
)
# Loaded lazily by the standard library itself (ast.unparse, which py_calc uses; strptime).
_INTERNAL = ("_ast_unparse", "_strptime")
for _name in _PRELOAD + _INTERNAL:
    try:
        __import__(_name)
    except ImportError:  # not in this Python build: user code cannot import it either
        pass

import vessel_plugin  # noqa: E402
from py_calc import PyCalc  # noqa: E402

Processor, Instance = vessel_plugin.export(PyCalc)

vessel_plugin.seal_imports(
    "py_calc code can import: %s" % ", ".join(sorted(m for m in _PRELOAD if m in sys.modules)))
