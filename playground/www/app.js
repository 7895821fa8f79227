// The playground page: every answer comes from the wasm build of
// playground/ (the same Rust the CLI and the modules run); this file only
// moves text between the form and those functions, and keeps the state in
// the URL fragment so a link reproduces it.
import init, { route, routes, logs, vrl } from "./starform_playground.js";

const $ = (id) => document.getElementById(id);
const DEFAULT_CONFIG = "{}";

// Fragment keys: pane; routes/route and filter (Routes); records/record and
// transform (Logs, VRL). `route`/`record` hold one item and also fill
// #route-result / #record-result. Parsed by hand rather than with
// URLSearchParams, which would read a literal "+" as a space.
function readFragment() {
  const state = {};
  const hash = location.hash.replace(/^#/, "");
  if (hash === "") return state;
  for (const part of hash.split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const raw = eq < 0 ? "" : part.slice(eq + 1);
    try {
      state[key] = decodeURIComponent(raw);
    } catch {
      state[key] = raw;
    }
  }
  return state;
}

function writeFragment(state) {
  const parts = [];
  for (const [key, value] of Object.entries(state)) {
    if (value !== undefined) parts.push(`${key}=${encodeURIComponent(value)}`);
  }
  const hash = parts.length ? `#${parts.join("&")}` : "";
  history.replaceState(null, "", hash || location.pathname);
  $("share").href = hash || "#";
}

function showPane(pane) {
  for (const section of document.querySelectorAll("main section")) {
    section.hidden = section.dataset.pane !== pane;
  }
  for (const button of document.querySelectorAll("nav button")) {
    button.setAttribute("aria-pressed", String(button.dataset.pane === pane));
  }
  document.body.dataset.pane = pane;
}

// Each call mirrors one CLI run; an error is the message the CLI prints
// after `--config FILE: `.
function call(f, ...args) {
  try {
    return { ok: f(...args) };
  } catch (error) {
    return { error: String(error) };
  }
}

function renderRoutes() {
  const result = call(routes, $("filter-config").value, $("route-names").value);
  $("routes-error").textContent = result.error ?? "";
  $("routes-output").textContent = result.ok ?? "";
  return result;
}

function renderLogs() {
  const result = call(logs, $("transform-config").value, $("log-records").value);
  $("logs-error").textContent = result.error ?? "";
  $("logs-output").textContent = result.ok ? result.ok.output : "";
  $("logs-summary").textContent = result.ok ? result.ok.summary : "";
  return result;
}

function renderVrl() {
  const result = call(vrl, $("transform-config").value);
  $("vrl-error").textContent = result.error ?? "";
  $("vrl-output").textContent = result.ok ?? "";
}

// One item's line without its newline: the one line the CLI prints for it.
const oneLine = (text) => (text ?? "").replace(/\n$/, "");

function fromFragment() {
  const state = readFragment();
  const linkedRoute = state.route;
  const linkedRecord = state.record;
  // A link holds the whole state: what it leaves out is the default.
  $("route-names").value = linkedRoute ?? state.routes ?? "";
  $("filter-config").value = state.filter ?? DEFAULT_CONFIG;
  $("log-records").value = linkedRecord ?? state.records ?? "";
  $("transform-config").value = state.transform ?? DEFAULT_CONFIG;
  renderRoutes();
  renderLogs();
  renderVrl();
  // Linked items go to the core as the link spells them: a textarea would
  // turn a carriage return into a line feed.
  $("route-result").textContent =
    linkedRoute === undefined
      ? ""
      : (call(route, $("filter-config").value, linkedRoute).ok ?? "");
  $("record-result").textContent =
    linkedRecord === undefined
      ? ""
      : oneLine(call(logs, $("transform-config").value, `${linkedRecord}\n`).ok?.output);
  const pane =
    state.pane ?? (linkedRecord !== undefined || state.records !== undefined ? "logs" : "routes");
  showPane(pane);
  document.body.dataset.rendered = location.hash;
}

function toFragment() {
  const nonDefault = (value) => (value.trim() === DEFAULT_CONFIG ? undefined : value);
  writeFragment({
    pane: document.body.dataset.pane,
    routes: $("route-names").value || undefined,
    filter: nonDefault($("filter-config").value),
    records: $("log-records").value || undefined,
    transform: nonDefault($("transform-config").value),
  });
}

async function main() {
  await init();
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => {
      showPane(button.dataset.pane);
      toFragment();
    });
  }
  const edited = (render) => () => {
    render();
    $("route-result").textContent = "";
    $("record-result").textContent = "";
    toFragment();
  };
  $("route-names").addEventListener("input", edited(renderRoutes));
  $("filter-config").addEventListener("input", edited(renderRoutes));
  const logsAndVrl = () => {
    renderLogs();
    renderVrl();
  };
  $("log-records").addEventListener("input", edited(logsAndVrl));
  $("transform-config").addEventListener("input", edited(logsAndVrl));
  window.addEventListener("hashchange", fromFragment);
  fromFragment();
  $("status").textContent = "Ready. Edit any box; the link below keeps what you typed.";
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  $("status").textContent = `The WebAssembly did not load: ${error}`;
});
