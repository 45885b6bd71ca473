"""{{name}}: a Vessel map plugin, one output row per input row. Adds VAT to a price.

    custom_proc_type: {{name}}
    p: {"vat_percent": 20}
    having: r.price (decimal2)  ->  p.price_with_vat (decimal2)

Build it with `vessel plugin build`, try it with
`vessel plugin test . --input sample.csv --params params.json` (a CSV with a `price:decimal2`
column), test the logic with `python3 -m unittest discover -s tests`, and use it in a script
with `p: {component: path/to/{{name}}.wasm, vat_percent: 20}`.
"""

from decimal import Decimal

import vessel_plugin as vp


class AddVat(vp.Processor):
    """Adds VAT to a price."""

    name = "{{name}}"
    version = "0.1.0"
    kind = vp.MAP
    params_schema = ('{"type": "object", "properties": {"vat_percent": {"type": "number"}}, '
                     '"required": ["vat_percent"]}')

    # Once per node run and worker: check the parameters and the input, declare what is read
    # and produced.
    def open(self, ctx):
        percent = ctx.params.get("vat_percent")
        if isinstance(percent, bool) or not isinstance(percent, (int, float)):
            raise vp.InvalidParams("vat_percent must be a number, such as 20")
        ctx.require("price", vp.DECIMAL2)
        self.factor = 1 + Decimal(str(percent)) / 100
        return vp.Binding(reads=["price"], outputs=[("price_with_vat", vp.DECIMAL2)])

    # Once per row: `row` holds the read fields (decimal2 values are Decimals); what is set
    # on `emit` becomes the row's p.* fields (rounded to cents, half away from zero).
    def process_row(self, row, emit):
        price = row["price"]
        if price < 0:
            raise vp.RowError("negative price", field="price")
        emit["price_with_vat"] = price * self.factor
