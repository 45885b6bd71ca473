"""{{name}}: a Vessel filter plugin. Input rows pass unchanged, or not: keeps rows with
enough quantity.

    custom_proc_type: {{name}}
    p: {"min_qty": 10}
    having: r.qty (int)

Build it with `vessel plugin build`, try it with
`vessel plugin test . --input sample.csv --params params.json`, test the logic with
`python3 -m unittest discover -s tests`, and use it in a script with
`p: {component: path/to/{{name}}.wasm, min_qty: 10}`.
"""

import vessel_plugin as vp


class MinQty(vp.Processor):
    """Keeps rows whose qty is at least min_qty."""

    name = "{{name}}"
    version = "0.1.0"
    kind = vp.FILTER

    def open(self, ctx):
        self.min = ctx.params.get("min_qty", 1)
        if isinstance(self.min, bool) or not isinstance(self.min, int):
            raise vp.InvalidParams("min_qty must be an integer, such as 10")
        ctx.require("qty", vp.INT)
        return vp.Binding(reads=["qty"])

    def process_row(self, row, emit):
        # keep(True) passes the row, keep(False) drops it.
        emit.keep(row["qty"] >= self.min)
