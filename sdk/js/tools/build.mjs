// Builds a JavaScript plugin into a Vessel component with componentize-js.
//
// `vessel plugin build` writes this file into its tools directory (where componentize-js is
// installed, so that the bare import below resolves) and runs it as
//
//   node build.mjs <src dir> <wit dir> <world | auto> <component out> <summary out>
//
// from inside <src dir>, which holds the plugin's modules, `vessel-plugin.js` and a
// package.json that makes `.js` files ES modules. The plugin's `index.js` is imported under
// Node first, so that a mistake in its definition fails in seconds with Node's message instead
// of minutes later inside the Wasm initializer.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const WORLDS = { processor: 'processor-plugin', functions: 'function-plugin' };
// The sandbox gives no randomness or network worth having; stdio stays so that `console.log`
// and uncaught errors reach the host's log and trap messages, and the clocks stay so that
// `Date.now()` reads the host's deterministic clock (the Unix epoch) like every other guest.
const DISABLED_FEATURES = ['random', 'http', 'fetch-event'];

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const [srcDir, witDir, wantWorld, outPath, summaryPath] = process.argv.slice(2);
if (summaryPath === undefined) fail('usage: build.mjs <src dir> <wit dir> <world|auto> <out> <summary>');

// Not caught: Node's own report of an uncaught error shows the offending source line.
const plugin = (await import(pathToFileURL(join(srcDir, 'index.js')).href)).default;
const world = WORLDS[plugin?.vesselPlugin];
if (world === undefined) {
  fail(
    'index.js must `export default processor({...})` or `export default functions({...})`, ' +
      "both imported from './vessel-plugin.js'",
  );
}
if (wantWorld !== 'auto' && wantWorld !== world) {
  fail(`index.js defines a ${world} but the build asked for a ${wantWorld}`);
}

const [exportName, bind] =
  world === 'processor-plugin' ? ['processor', 'processorExport'] : ['functions', 'functionsExport'];
const entry = join(srcDir, 'vessel-entry.js');
await writeFile(
  entry,
  `import * as host from 'vessel:plugin/host@0.1.0';
import { ${bind} } from './vessel-plugin.js';
import plugin from './index.js';

export const ${exportName} = ${bind}(plugin, host);
`,
);

const started = Date.now();
let component;
try {
  ({ component } = await componentize({
    sourcePath: entry,
    witPath: witDir,
    worldName: world,
    disableFeatures: DISABLED_FEATURES,
  }));
} catch (e) {
  fail(`componentize-js failed: ${e?.message ?? e}`);
}
await writeFile(outPath, component);
await writeFile(
  summaryPath,
  JSON.stringify({ world, bytes: component.length, componentizeMs: Date.now() - started }),
);
