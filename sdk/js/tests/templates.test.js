// The plugin templates, staged as `vessel plugin build` stages them (the SDK beside index.js)
// and run through the test harness.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SDK_DIR = fileURLToPath(new URL('..', import.meta.url));
const staged = [];
after(() => staged.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/**
 * The template's default export, loaded next to a copy of the SDK, and that copy's `testing`
 * (a plugin must be run by the SDK instance it was defined with: their classes differ).
 */
async function load(template, name = { map: 'add-vat', filter: 'min-qty' }[template]) {
  const dir = mkdtempSync(join(tmpdir(), `vessel-template-${template}-`));
  staged.push(dir);
  cpSync(join(SDK_DIR, 'templates', template), dir, { recursive: true });
  // `vessel plugin new` fills in the plugin's name.
  const index = join(dir, 'index.js');
  writeFileSync(index, readFileSync(index, 'utf8').replaceAll('{{name}}', name ?? 'plugin'));
  cpSync(join(SDK_DIR, 'vessel-plugin.js'), join(dir, 'vessel-plugin.js'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const mod = await import(pathToFileURL(join(dir, 'index.js')).href);
  const sdk = await import(pathToFileURL(join(dir, 'vessel-plugin.js')).href);
  return [mod.default, sdk.testing];
}

function isError(name, re) {
  return (e) => e.name === name && re.test(e.message);
}

test('map template: adds VAT, rounds to cents, rejects negative prices', async () => {
  const [plugin, testing] = await load('map');
  assert.equal(plugin.info.name, 'add-vat');
  const h = testing.open(plugin, { params: { vat_percent: 20 }, input: { name: 'string', price: 'decimal2' } });
  assert.deepEqual(h.binding.reads, ['price']);
  const out = h.process([{ price: 10 }, { price: 3.33 }, { price: -1 }, { price: 0.01 }]);
  assert.deepEqual(out.rows.map((r) => r.price_with_vat), [12, 4, 0.01]);
  assert.deepEqual(out.rowErrors, [{ row: 2, field: 'price', message: 'negative price' }]);
  assert.throws(
    () => testing.open(plugin, { input: { price: 'decimal2' } }),
    isError('InvalidParams', /missing parameter `vat_percent`/),
  );
  assert.throws(
    () => testing.open(plugin, { params: { vat_percent: 5 }, input: { price: 'float' } }),
    isError('SchemaMismatch', /input field `price` is a float, expected a decimal2/),
  );
});

test('filter template: keeps rows with enough quantity', async () => {
  const [plugin, testing] = await load('filter');
  const h = testing.open(plugin, { params: { min_qty: 10 }, input: { qty: 'int', name: 'string' } });
  assert.deepEqual(h.process([5, 10, 20, -3].map((qty) => ({ qty }))).keep, [false, true, true, false]);
  assert.throws(
    () => testing.open(plugin, { params: { min_qty: 1.5 }, input: { qty: 'int' } }),
    isError('InvalidParams', /min_qty must be an integer/),
  );
});

test('function template: upper and add_one', async () => {
  const [plugin, testing] = await load('function');
  assert.deepEqual(testing.call(plugin, 'upper', [['tea'], ['été'], ['']]), ['TEA', 'ÉTÉ', '']);
  assert.deepEqual(testing.call(plugin, 'add_one', [[1], [-1], [2 ** 40]]), [2, 0, 2 ** 40 + 1]);
  assert.throws(() => testing.call(plugin, 'add_one', [[2 ** 53 - 1]]), isError('Failed', /function `add_one`, row 0: .*safe integer/));
});
