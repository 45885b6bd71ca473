// A map plugin: one output row per input row. Adds VAT to a price.
//
//   custom_proc_type: {{name}}
//   p: { "vat_percent": 20 }
//   having: r.price (decimal2)  ->  p.price_with_vat (decimal2)
import { processor, RowError } from './vessel-plugin.js';

export default processor({
  name: '{{name}}',
  version: '0.1.0',
  kind: 'map',
  description: 'Adds VAT to a price.',
  paramsSchema: {
    type: 'object',
    properties: { vat_percent: { type: 'number' } },
    required: ['vat_percent'],
  },

  // Once per node run and worker: check the parameters and the input, declare what is read
  // and produced, and return the row function.
  open(ctx) {
    const percent = ctx.param('vat_percent', 'number');
    ctx.require('price', 'decimal2');
    const factor = 1 + percent / 100;
    return {
      reads: ['price'],
      outputs: { price_with_vat: 'decimal2' },
      // Once per row: `r` holds the read fields; the returned object the outputs.
      map(r) {
        if (r.price < 0) throw new RowError('negative price', 'price');
        return { price_with_vat: r.price * factor };
      },
    };
  },
});
