"""Entry module of the {{name}} component: componentize-py looks its exports up here.

The logic is in plugin.py, so that tests/ can import it on plain CPython (`export` works only
inside the component).
"""

import vessel_plugin as vp
from plugin import AddVat

Processor, Instance = vp.export(AddVat)

# Inside the component, importing a module not loaded by now raises ImportError.
vp.seal_imports()
