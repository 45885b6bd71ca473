"""Entry module of the bench_python_map component: componentize-py looks its exports up here
(`vessel plugin build`, or bench/plugins/run.py with componentize-py directly). The logic is in
plugin.py, so that it can also be profiled on plain CPython with `vessel_plugin.Harness`."""

import vessel_plugin as vp
from plugin import BenchPythonMap

Processor, Instance = vp.export(BenchPythonMap)
