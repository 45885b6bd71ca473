// Drives Vessel's web UI in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core). Usage: node ui.mjs BASE_URL TOKEN SCREENSHOT_DIR
// Exits non-zero, saying which step failed, when the UI does not behave.
import { chromium } from "playwright-core";

const [base, token, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.VESSEL_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
let step = "start";
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

try {
  step = "a request without the token is refused and the UI asks for it";
  await page.goto(base + "/");
  await page.waitForSelector("#f-token");
  const direct = await page.evaluate(async () => (await fetch("/ks")).status);
  if (direct !== 401) throw new Error(`GET /ks without a token answered ${direct}`);
  await shot("01-token");
  await page.fill("#f-token", token);
  await page.click("#dialog-submit");
  await page.waitForSelector("#new-run");
  await shot("02-keyspaces");

  step = "start the example pipeline from the form";
  await page.click("#new-run");
  await page.fill("#f-keyspace", "shop");
  await page.fill("#f-script_url", "script.yaml");
  await page.fill("#f-script_params_url", "params.yaml");
  await page.fill("#f-run_description", "from the browser");
  await page.click("#dialog-submit");
  await page.waitForURL(/#\/ks\/shop\/run\/1$/);

  step = "watch it complete on the run page, with the DAG coloured";
  await page.waitForSelector("#run-status .s-complete", { timeout: 60000 });
  await page.waitForFunction(() =>
    document.querySelectorAll('#dag g.node[data-status="success"]').length === 8, null, { timeout: 20000 });
  const rows = await page.locator("#summary tbody tr").count();
  if (rows !== 8) throw new Error(`the summary shows ${rows} nodes, not 8`);
  await shot("03-run");

  step = "open a node's batch history";
  await page.click('#summary tr[data-node="order_details"] a');
  await page.waitForSelector("#batch-stats");
  const stats = await page.textContent("#batch-stats");
  for (const w of ["Average", "Median", "Std. deviation"]) {
    if (!stats.includes(w)) throw new Error(`batch statistics lack ${w}: ${stats}`);
  }
  await shot("04-batches");

  step = "the keyspace matrix";
  await page.goto(base + "/#/ks/shop");
  await page.waitForSelector("text=load_orders");
  await shot("05-keyspace");

  step = "stop a second run while it is going (1000 batches), followed live";
  await page.click("text=New run");
  await page.fill("#f-script_url", "script.yaml");
  await page.fill("#f-script_params_url", "params_slow.yaml");
  await page.fill("#f-run_description", "to be stopped");
  await page.click("#dialog-submit");
  await page.waitForURL(/#\/ks\/shop\/run\/2$/);
  await page.waitForSelector("#live:text('live')", { timeout: 20000 });
  await shot("06-running");
  await page.click("#stop-run");
  await page.fill("#f-comment", "not needed");
  await page.click("#dialog-submit");
  await page.waitForSelector("#run-status .s-stop", { timeout: 20000 });
  await shot("07-stopped");

  step = "invalidate the finished first run";
  await page.goto(base + "/#/ks/shop/run/1");
  await page.waitForSelector("#run-status .s-complete");
  await page.click("#stop-run");
  await page.fill("#f-comment", "superseded");
  await page.click("#dialog-submit");
  await page.waitForSelector("#run-status .s-stop", { timeout: 20000 });

  step = "a refused script shows the API's error";
  await page.goto(base + "/#/");
  await page.click("#new-run");
  await page.fill("#f-keyspace", "refused");
  await page.fill("#f-script_url", "/etc/passwd");
  await page.click("#dialog-submit");
  await page.waitForSelector("#error:not([hidden])");
  const err = await page.textContent("#error");
  if (!err.includes("outside the folders")) throw new Error(`the error shown is: ${err}`);
  await shot("08-refused");

  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  console.log("ui: every step passed");
} catch (e) {
  await shot("failed").catch(() => {});
  console.error(`ui step failed: ${step}: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
