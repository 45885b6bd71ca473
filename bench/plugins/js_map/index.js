// The benchmark's map transform as a JavaScript plugin: the same three fields as the
// expressions in bench/plugins/script.yaml and the Rust plugin in bench/plugins/rust_map.
import { processor } from './vessel-plugin.js';

export default processor({
  name: 'bench_js_map',
  version: '0.1.0',
  kind: 'map',
  description: 'total = price × qty, big = qty > 10, label = "<name>-<id>".',
  open(ctx) {
    ctx.require('id', 'int');
    ctx.require('name', 'string');
    ctx.require('price', 'decimal2');
    ctx.require('qty', 'int');
    return {
      reads: ['id', 'name', 'price', 'qty'],
      outputs: { total: 'decimal2', big: 'bool', label: 'string' },
      // price is a number of units; the SDK rounds total back to hundredths.
      map(r) {
        return { total: r.price * r.qty, big: r.qty > 10, label: `${r.name}-${r.id}` };
      },
    };
  },
});
