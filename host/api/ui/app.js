// Vessel's web UI: keyspaces, the runs × nodes matrix, run pages followed live, batch history,
// and forms to start, stop and invalidate runs. Plain JavaScript, no build step; it talks to the
// API of the same server.
"use strict";

const main = document.getElementById("main");
const crumbs = document.getElementById("crumbs");
const errorBox = document.getElementById("error");
const dialog = document.getElementById("dialog");
const dialogForm = document.getElementById("dialog-form");
const tokenButton = document.getElementById("token-button");
let following = null; // AbortController of the event stream of the run page shown

// ---- talking to the API --------------------------------------------------------------------

function token() {
  return sessionStorage.getItem("vessel-token") || "";
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (res.status === 401) {
    tokenButton.hidden = false;
    askToken();
    throw new Error("This server needs a token: enter it with the Token button.");
  }
  const type = res.headers.get("Content-Type") || "";
  if (!type.includes("json")) {
    if (!res.ok) throw new Error(res.status + " " + (await res.text()));
    return res.text();
  }
  // Tokens are 64-bit: keep their exact text where the browser offers it (JSON.parse source
  // access), as numbers beyond 2^53 lose digits.
  const env = JSON.parse(await res.text(), (key, value, ctx) =>
    (key === "first_token" || key === "last_token") && ctx && ctx.source ? ctx.source : value);
  if (!res.ok || env.error) throw new Error(env.error || res.status + " " + res.statusText);
  return env.data;
}

// Server-Sent Events through fetch, so that the token header can be sent.
async function follow(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers(), signal });
  if (!res.ok) throw new Error((await res.json()).error);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

// ---- small helpers -------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function status(name) {
  return el("span", { class: "status s-" + name }, name);
}

function link(href, text) {
  return el("a", { href }, text);
}

function when(ts) {
  return ts ? ts.replace("T", " ").replace("Z", "") : "";
}

function seconds(from, to) {
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

function showError(e) {
  errorBox.textContent = e instanceof Error ? e.message : String(e);
  errorBox.hidden = false;
}

function setCrumbs(parts) {
  crumbs.replaceChildren();
  parts.forEach(([href, text], i) => {
    if (i) crumbs.append(el("span", { class: "sep" }, "/"));
    crumbs.append(href ? link(href, text) : el("span", {}, text));
  });
}

function table(head, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function enc(s) {
  return encodeURIComponent(s);
}

// ---- dialogs -------------------------------------------------------------------------------

function openDialog(title, fields, submitText, onSubmit) {
  dialogForm.replaceChildren(el("h2", {}, title), ...fields.flat(),
    el("div", { class: "buttons" },
      el("button", { type: "button", class: "quiet", onclick: () => dialog.close() }, "Cancel"),
      el("button", { type: "submit", id: "dialog-submit" }, submitText)));
  dialogForm.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await onSubmit(new FormData(dialogForm));
      dialog.close();
    } catch (e) {
      showError(e);
    }
  };
  dialog.showModal();
}

function field(label, name, attrs) {
  return [el("label", { for: "f-" + name }, label),
    el(attrs && attrs.rows ? "textarea" : "input", Object.assign({ id: "f-" + name, name }, attrs || {}))];
}

function askToken() {
  openDialog("Token", [field("Bearer token of this server", "token", { type: "password", value: token() })],
    "Use", async (data) => {
      sessionStorage.setItem("vessel-token", data.get("token").trim());
      route();
    });
}

async function readFile(input) {
  const f = input && input.files && input.files[0];
  return f ? await f.text() : null;
}

function newRun(ks) {
  openDialog("Start a run", [
    field("Keyspace", "keyspace", { required: true, value: ks || "", pattern: "[A-Za-z0-9_]+" }),
    field("Script path on the server", "script_url", { placeholder: "script.yaml" }),
    field("…or upload a script", "script_file", { type: "file", accept: ".json,.yaml,.yml" }),
    field("Params path on the server", "script_params_url", { placeholder: "params.yaml" }),
    field("…or upload params", "params_file", { type: "file", accept: ".json,.yaml,.yml" }),
    field("Start nodes (comma-separated; empty: every node without inputs)", "start_nodes"),
    field("Description", "run_description"),
  ], "Start", async (data) => {
    const body = { start_nodes: data.get("start_nodes"), run_description: data.get("run_description") };
    const script = await readFile(document.getElementById("f-script_file"));
    const params = await readFile(document.getElementById("f-params_file"));
    if (script !== null) body.script = script; else body.script_url = data.get("script_url");
    if (params !== null) body.params = params;
    else if (data.get("script_params_url")) body.script_params_url = data.get("script_params_url");
    const keyspace = data.get("keyspace").trim();
    const started = await api("POST", "/ks/" + enc(keyspace) + "/run", body);
    location.hash = "#/ks/" + enc(keyspace) + "/run/" + started.run_id;
  });
}

function stopRun(ks, run, finished) {
  const verb = finished ? "Invalidate" : "Stop";
  openDialog(verb + " run " + run, [field("Comment", "comment", { required: true })], verb,
    async (data) => {
      await api("DELETE", "/ks/" + enc(ks) + "/run/" + run, { comment: data.get("comment") });
      route();
    });
}

function dropKeyspace(ks) {
  openDialog("Drop keyspace " + ks, [
    el("p", {}, "Every run of ", el("b", {}, ks), " and all its tables are removed for good."),
    field("Type the keyspace name to confirm", "confirm", { required: true, autocomplete: "off" }),
  ], "Drop", async (data) => {
    if (data.get("confirm") !== ks) throw new Error("The name typed is not " + ks + "; nothing was dropped.");
    await api("DELETE", "/ks/" + enc(ks));
    location.hash = "#/";
  });
}

// ---- pages ---------------------------------------------------------------------------------

async function keyspacesPage() {
  setCrumbs([[null, "Keyspaces"]]);
  const names = await api("GET", "/ks");
  main.replaceChildren(el("h1", {}, "Keyspaces"),
    el("div", { class: "toolbar" }, el("button", { id: "new-run", onclick: () => newRun("") }, "New run")),
    names.length ? table(["Keyspace", ""], names.map((n) => el("tr", {},
      el("td", {}, link("#/ks/" + enc(n), n)),
      el("td", {}, el("button", { class: "danger", onclick: () => dropKeyspace(n) }, "Drop")))))
      : el("p", { class: "muted" }, "No keyspace yet: start a run."));
}

async function keyspacePage(ks) {
  setCrumbs([["#/", "Keyspaces"], [null, ks]]);
  const m = await api("GET", "/ks/" + enc(ks));
  const runs = m.run_lifespans;
  const head = ["Node"].concat(runs.map((r) => "Run " + r.run_id));
  const runRow = el("tr", {}, el("th", {}, "Run"), runs.map((r) => el("td", {},
    link("#/ks/" + enc(ks) + "/run/" + r.run_id, "run " + r.run_id), " ", status(r.final_status_name),
    el("div", { class: "muted" }, when(r.start_ts)),
    r.completed_ts ? el("div", { class: "muted" }, seconds(r.start_ts, r.completed_ts).toFixed(1) + " s") : null,
    el("div", {}, el("button", { class: "quiet", onclick: () => stopRun(ks, r.run_id, r.final_status_name !== "start") },
      r.final_status_name === "start" ? "Stop" : "Invalidate")))));
  const rows = m.nodes.map((n) => el("tr", {},
    el("td", {}, el("b", {}, n.node_name), el("div", { class: "muted" }, n.node_desc)),
    runs.map((r) => {
      const c = n.node_statuses.find((s) => s.run_id === r.run_id);
      return el("td", {}, c ? [link("#/ks/" + enc(ks) + "/run/" + r.run_id + "/node/" + enc(n.node_name),
        status(c.status_name)), el("div", { class: "muted" }, when(c.ts))] : "");
    })));
  main.replaceChildren(el("h1", {}, "Keyspace " + ks),
    el("div", { class: "toolbar" },
      el("button", { onclick: () => newRun(ks) }, "New run"),
      el("button", { class: "danger", onclick: () => dropKeyspace(ks) }, "Drop keyspace")),
    table(head, [runRow].concat(rows)));
}

function summaryTable(ks, run, s) {
  return table(["Node", "Status", "Batches", "Rows in", "Rows out", "Time", "Error"], s.nodes.map((n) =>
    el("tr", { "data-node": n.node },
      el("td", {}, link("#/ks/" + enc(ks) + "/run/" + run + "/node/" + enc(n.node), n.node)),
      el("td", {}, status(n.status)),
      el("td", { class: "num" }, n.batches_ok + "/" + n.batches_total),
      el("td", { class: "num" }, n.rows_in), el("td", { class: "num" }, n.rows_out),
      el("td", { class: "num" }, n.seconds.toFixed(2) + " s"),
      el("td", {}, n.error || ""))));
}

async function runPage(ks, run) {
  setCrumbs([["#/", "Keyspaces"], ["#/ks/" + enc(ks), ks], [null, "run " + run]]);
  const h = await api("GET", "/ks/" + enc(ks) + "/run/" + run + "/node_history");
  const p = h.run_props, l = h.run_lifespan;
  const summaryBox = el("div", { id: "summary" });
  const dagBox = el("div", { class: "dag", id: "dag" });
  const liveBox = el("span", { id: "live" });
  const runStatus = el("span", { id: "run-status" }, status(l.final_status_name));
  main.replaceChildren(el("h1", {}, "Run " + run + " of " + ks + " ", runStatus, " ", liveBox),
    el("div", { class: "toolbar" },
      el("button", { class: "quiet", id: "stop-run", onclick: () => stopRun(ks, run, l.final_status_name !== "start") },
        l.final_status_name === "start" ? "Stop" : "Invalidate")),
    el("dl", { class: "props" },
      el("dt", {}, "Description"), el("dd", {}, p.run_description),
      el("dt", {}, "Start nodes"), el("dd", {}, p.start_nodes),
      el("dt", {}, "Affected nodes"), el("dd", {}, p.affected_nodes),
      el("dt", {}, "Script"), el("dd", {}, p.script_url),
      el("dt", {}, "Params"), el("dd", {}, p.script_params_url),
      el("dt", {}, "Started"), el("dd", {}, when(l.start_ts) + " " + l.start_comment),
      l.completed_ts ? [el("dt", {}, "Completed"), el("dd", {}, when(l.completed_ts))] : null,
      l.stopped_ts ? [el("dt", {}, "Stopped"), el("dd", {}, when(l.stopped_ts) + " " + l.stopped_comment)] : null),
    el("h2", {}, "Summary"), summaryBox,
    el("h2", {}, "DAG"), dagBox,
    el("h2", {}, "Node history"),
    table(["Time", "Node", "Batch", "Status", "Comment"], h.node_history.map((e) => el("tr", {},
      el("td", {}, when(e.ts)), el("td", {}, e.script_node), el("td", { class: "num" }, e.written_by_batch_idx),
      el("td", {}, status(e.status_name)), el("td", {}, e.comment)))));
  const drawDag = async () => {
    dagBox.innerHTML = await api("GET", "/ks/" + enc(ks) + "/run/" + run + "/viz?is_status=true");
  };
  await drawDag();
  following = new AbortController();
  const signal = following.signal;
  follow("/ks/" + enc(ks) + "/run/" + run + "/events", async (event, s) => {
    summaryBox.replaceChildren(summaryTable(ks, run, s));
    runStatus.replaceChildren(status(s.run_status));
    liveBox.textContent = event === "end" ? "" : "● live";
    liveBox.className = "live";
    await drawDag();
  }, signal).catch((e) => { if (!signal.aborted) showError(e); });
}

function stats(xs) {
  if (!xs.length) return null;
  const sorted = xs.slice().sort((a, b) => a - b);
  const avg = xs.reduce((a, b) => a + b, 0) / xs.length;
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - avg) * (x - avg), 0) / xs.length);
  return { avg, median, sd, cv: avg ? (100 * sd) / avg : 0 };
}

async function batchPage(ks, run, node) {
  setCrumbs([["#/", "Keyspaces"], ["#/ks/" + enc(ks), ks], ["#/ks/" + enc(ks) + "/run/" + run, "run " + run], [null, node]]);
  const h = await api("GET", "/ks/" + enc(ks) + "/run/" + run + "/node/" + enc(node) + "/batch_history");
  // One line per batch attempt: from its start to the event that ended it.
  const open = new Map();
  const lines = [];
  for (const e of h.batch_history) {
    if (e.status_name === "start") { open.set(e.batch_idx, e); continue; }
    const s = open.get(e.batch_idx);
    open.delete(e.batch_idx);
    lines.push({ b: e, start: s ? s.ts : null, end: e.ts, secs: s ? seconds(s.ts, e.ts) : null });
  }
  for (const s of open.values()) lines.push({ b: s, start: s.ts, end: null, secs: null });
  lines.sort((a, b) => a.b.batch_idx - b.b.batch_idx);
  const st = stats(lines.filter((x) => x.secs !== null && x.b.status_name === "success").map((x) => x.secs));
  main.replaceChildren(el("h1", {}, "Node " + node + ", run " + run),
    st ? el("dl", { class: "props", id: "batch-stats" },
      el("dt", {}, "Batches"), el("dd", {}, lines.length),
      el("dt", {}, "Average"), el("dd", {}, st.avg.toFixed(3) + " s"),
      el("dt", {}, "Median"), el("dd", {}, st.median.toFixed(3) + " s"),
      el("dt", {}, "Std. deviation"), el("dd", {}, st.sd.toFixed(3) + " s (CV " + st.cv.toFixed(0) + "%)"))
      : el("p", { class: "muted" }, "No batch has finished yet."),
    el("h2", {}, "Batches"),
    table(["Batch", "Status", "Started", "Ended", "Time", "Tokens", "Worker", "Comment"], lines.map((x) => el("tr", {},
      el("td", { class: "num" }, x.b.batch_idx + "/" + x.b.batches_total), el("td", {}, status(x.b.status_name)),
      el("td", {}, when(x.start)), el("td", {}, when(x.end)),
      el("td", { class: "num" }, x.secs === null ? "" : x.secs.toFixed(3) + " s"),
      el("td", { class: "muted" }, x.b.first_token + " … " + x.b.last_token),
      el("td", { class: "muted" }, x.b.instance + " #" + x.b.thread), el("td", {}, x.b.comment)))));
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  if (following) following.abort();
  following = null;
  errorBox.hidden = true;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts.length === 0) await keyspacesPage();
    else if (parts[0] === "ks" && parts.length === 2) await keyspacePage(parts[1]);
    else if (parts[0] === "ks" && parts[2] === "run" && parts.length === 4) await runPage(parts[1], Number(parts[3]));
    else if (parts[0] === "ks" && parts[2] === "run" && parts[4] === "node" && parts.length === 6)
      await batchPage(parts[1], Number(parts[3]), parts[5]);
    else throw new Error("No page " + location.hash);
  } catch (e) {
    main.replaceChildren(el("p", { class: "muted" }, "Nothing to show."));
    showError(e);
  }
}

tokenButton.addEventListener("click", askToken);
window.addEventListener("hashchange", route);
route();
