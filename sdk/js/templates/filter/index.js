// A filter plugin: input rows pass unchanged, or not. Keeps rows with enough quantity.
//
//   custom_proc_type: {{name}}
//   p: { "min_qty": 10 }
//   having: r.qty (int)
import { InvalidParams, processor } from './vessel-plugin.js';

export default processor({
  name: '{{name}}',
  version: '0.1.0',
  kind: 'filter',
  description: 'Keeps rows whose qty is at least min_qty.',

  open(ctx) {
    const min = ctx.params.min_qty ?? 1;
    if (!Number.isInteger(min)) throw new InvalidParams('min_qty must be an integer');
    ctx.require('qty', 'int');
    return {
      reads: ['qty'],
      // true keeps the row, false drops it.
      filter: (r) => r.qty >= min,
    };
  },
});
