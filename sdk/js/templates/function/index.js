// A function plugin: scalar functions that script expressions call as `<namespace>.<name>(...)`,
// the namespace being the one the script's `functions` section gives the component:
//   functions: {txt: path/to/{{name}}.wasm}   then   txt.upper(r.name)
import { functions } from './vessel-plugin.js';

export default functions({
  upper: {
    params: ['string'],
    returns: 'string',
    description: 'The text in upper case.',
    fn: (s) => s.toUpperCase(),
  },
  add_one: {
    params: ['int'],
    returns: 'int',
    description: 'The integer plus one.',
    fn: (n) => n + 1,
  },
});
