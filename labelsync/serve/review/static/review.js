// labelsync review page: the working copy of the descriptions lives here; the server analyses
// it (confusable pairs, dev accuracy, try a sentence) and saves it. Plain DOM, no build step;
// user text is only ever set through textContent / value.
"use strict";

const token = document.querySelector('meta[name="labelsync-review-token"]').content;
const state = { version: null, labels: [], sources: {}, dirty: false, evaluated: 0 };
const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, body) {
  const options = { headers: { "X-Review-Token": token } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(`/review/api/${path}`, options);
  const answer = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const error = new Error(answer.detail || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return answer;
}

function say(message, isError = false) {
  const status = $("#status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// What the server gets: every label with its non-blank descriptions.
function workingCopy() {
  return state.labels.map((l) => ({
    label: l.label,
    descriptions: l.descriptions.map((d) => d.trim()).filter((d) => d),
  }));
}

function markDirty() {
  state.dirty = true;
  $("#save").disabled = false;
  say("Unsaved changes");
  scheduleEvaluate();
  scheduleTry();
}

// -- labels -------------------------------------------------------------------------------------
function renderLabels() {
  const container = $("#labels");
  container.replaceChildren();
  const filter = $("#filter").value.trim().toLowerCase();
  for (const item of state.labels) {
    if (filter && !item.label.toLowerCase().includes(filter)) continue;
    container.append(labelCard(item));
  }
}

function labelCard(item) {
  const source = state.sources[item.label] || item.source || "user";
  const list = element("ul", { class: "descriptions" });
  item.descriptions.forEach((text, index) => {
    const area = element("textarea", { rows: "1", class: "description", "aria-label": `${item.label} description ${index + 1}` });
    area.value = text;
    area.addEventListener("input", () => {
      item.descriptions[index] = area.value;
      markDirty();
    });
    const remove = element("button", {
      class: "delete-description", title: "Delete this description", text: "×",
      onclick: () => { item.descriptions.splice(index, 1); renderLabels(); markDirty(); },
    });
    list.append(element("li", {}, area, remove));
  });
  const card = element(
    "article",
    { class: "label", id: cardId(item.label), "data-label": item.label, "data-testid": "label" },
    element(
      "header", {},
      element("h3", { text: item.label }),
      element("span", { class: `source ${source}`, "data-testid": "source", text: source }),
      element("button", { class: "regenerate", text: "Regenerate", onclick: (e) => regenerate(item, e.target) }),
      element("button", {
        class: "delete-label", text: "Delete label",
        onclick: () => { state.labels.splice(state.labels.indexOf(item), 1); renderLabels(); markDirty(); },
      }),
    ),
    list,
    element("button", {
      class: "add-description", text: "+ description",
      onclick: () => { item.descriptions.push(""); renderLabels(); focusLast(item); },
    }),
  );
  if (item.failed) card.append(element("p", { class: "failed", text: `LLM failed: ${item.failed}` }));
  return card;
}

function cardId(label) {
  return `label-${encodeURIComponent(label)}`;
}

function focusLast(item) {
  const areas = document.getElementById(cardId(item.label)).querySelectorAll("textarea");
  if (areas.length) areas[areas.length - 1].focus();
}

function addLabel() {
  const input = $("#new-label");
  const name = input.value.trim();
  if (!name) return;
  const key = (s) => s.toLowerCase().replace(/[\s_-]+/g, " ").trim();
  if (state.labels.some((l) => key(l.label) === key(name))) {
    say(`Label ${name} is already there`, true);
    return;
  }
  const item = { label: name, descriptions: [""], source: "user" };
  state.labels.unshift(item);
  input.value = "";
  renderLabels();
  focusLast(item);
  markDirty();
}

async function regenerate(item, button) {
  button.disabled = true;
  say(`Regenerating ${item.label}…`);
  try {
    const n = Math.max(3, item.descriptions.filter((d) => d.trim()).length);
    const entry = await api("regenerate", { label: item.label, n });
    item.descriptions = entry.descriptions;
    item.failed = null;
    renderLabels();
    markDirty();
    say(`New descriptions for ${item.label} (${entry.model || "llm"})`);
  } catch (error) {
    say(error.message, true);
  } finally {
    button.disabled = false;
  }
}

// -- analysis -----------------------------------------------------------------------------------
async function evaluate() {
  try {
    const report = await api("evaluate", { labels: workingCopy() });
    state.sources = report.sources;
    state.evaluated += 1;
    renderPairs(report.confusable);
    if (report.dev) renderDev(report.dev);
    for (const card of document.querySelectorAll("article.label")) {
      const badge = card.querySelector(".source");
      const source = report.sources[card.dataset.label];
      if (source) { badge.textContent = source; badge.className = `source ${source}`; }
    }
    document.body.dataset.evaluated = String(state.evaluated);
    document.body.dataset.encoded = String(report.encoded);
  } catch (error) {
    say(error.message, true);
  }
}
const scheduleEvaluate = debounce(evaluate, 350);

function jumpTo(label) {
  $("#filter").value = "";
  renderLabels();
  const card = document.getElementById(cardId(label));
  if (!card) return;
  card.scrollIntoView({ behavior: "smooth", block: "center" });
  card.classList.add("highlight");
  setTimeout(() => card.classList.remove("highlight"), 1500);
}

function labelLink(label) {
  return element("a", { text: label, onclick: () => jumpTo(label) });
}

function renderPairs(pairs) {
  const body = $("#pairs tbody");
  body.replaceChildren();
  for (const pair of pairs) {
    body.append(element(
      "tr", { "data-testid": "pair" },
      element("td", { class: "pair" }, labelLink(pair.a), " ↔ ", labelLink(pair.b)),
      element("td", { text: pair.score.toFixed(3) }),
      element("td", {}, element("div", { text: `“${pair.a_text}”` }), element("div", { text: `“${pair.b_text}”` })),
    ));
  }
}

function renderDev(dev) {
  $("#dev").hidden = false;
  const accuracy = dev.accuracy === null ? "no dev rows with these labels" : `${(100 * dev.accuracy).toFixed(1)}%`;
  $("#dev-accuracy").textContent = `${accuracy} (${dev.correct} of ${dev.rows} dev rows)`;
  const body = $("#misclassified tbody");
  body.replaceChildren();
  for (const row of dev.misclassified) {
    body.append(element(
      "tr", { "data-testid": "misclassified-row" },
      element("td", { text: row.text }),
      element("td", {}, labelLink(row.gold)),
      element("td", {}, labelLink(row.predicted), ` ${row.score.toFixed(2)}`),
    ));
  }
}

async function tryText() {
  const text = $("#try-text").value;
  const list = $("#try-results");
  if (!text.trim()) { list.replaceChildren(); return; }
  try {
    const prediction = await api("try", { labels: workingCopy(), text });
    list.replaceChildren(...prediction.top_k.map((item) =>
      element("li", { "data-testid": "try-result", text: `${item.label} ${item.score.toFixed(3)}` })));
    if (prediction.in_scope === false) {
      list.append(element("li", { class: "oos", text: "out of scope (below the store's threshold)" }));
    }
  } catch (error) {
    say(error.message, true);
  }
}
const scheduleTry = debounce(tryText, 250);

// -- load and save ------------------------------------------------------------------------------
async function load() {
  const doc = await api("document");
  state.version = doc.version;
  state.labels = doc.labels.map((l) => ({
    label: l.label, descriptions: [...l.descriptions], source: l.source, failed: l.failed || null,
  }));
  state.sources = {};
  state.dirty = false;
  $("#path").textContent = `${doc.path} · ${doc.embedder}`;
  $("#save").disabled = true;
  renderLabels();
  await evaluate();
}

async function save() {
  const button = $("#save");
  button.disabled = true;
  say("Saving…");
  try {
    const answer = await api("save", { version: state.version, labels: workingCopy() });
    state.version = answer.version;
    state.dirty = false;
    await load();
    say("Saved (the previous file is kept as .bak)");
  } catch (error) {
    button.disabled = false;
    say(error.message, true); // the edits stay on the page
  }
}

window.addEventListener("beforeunload", (event) => {
  if (state.dirty) event.preventDefault();
});
$("#save").addEventListener("click", save);
$("#add-label").addEventListener("click", addLabel);
$("#new-label").addEventListener("keydown", (e) => { if (e.key === "Enter") addLabel(); });
$("#filter").addEventListener("input", renderLabels);
$("#try-text").addEventListener("input", scheduleTry);
load().then(() => say("Loaded")).catch((error) => say(error.message, true));
