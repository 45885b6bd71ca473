"""The benchmark's map transform as a Python plugin: the same three fields as the expressions
in `bench/plugins/script.yaml` and the Rust plugin in `bench/plugins/rust_map`. Written the
plain way (Python values, `emit[name] = value`), as a plugin author would."""

import vessel_plugin as vp


class BenchPythonMap(vp.Processor):
    """total = price × qty, big = qty > 10, label = "<name>-<id>"."""

    name = "bench_python_map"
    version = "0.1.0"
    kind = vp.MAP

    def open(self, ctx):
        for field, ty in (("id", vp.INT), ("name", vp.STRING), ("price", vp.DECIMAL2),
                          ("qty", vp.INT)):
            ctx.require(field, ty)
        return vp.Binding(reads=["id", "name", "price", "qty"],
                          outputs=[("total", vp.DECIMAL2), ("big", vp.BOOL),
                                   ("label", vp.STRING)])

    def process_row(self, row, emit):
        qty = row["qty"]
        emit["total"] = row["price"] * qty
        emit["big"] = qty > 10
        emit["label"] = "%s-%d" % (row["name"], row["id"])
