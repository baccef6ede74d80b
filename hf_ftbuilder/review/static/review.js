// Review page: one queue at a time, a sliding window of pages, keyboard first.
//
// Row texts are scraped pages and carry markup and scripts, so every string from
// the server reaches the DOM through textContent or createTextNode, never as HTML.
"use strict";

(() => {
  const PAGE = 50;
  // Three pages stay in the DOM at most; a 100k-row queue never builds more nodes.
  const MAX_LOADED = 3 * PAGE;
  const FOLD = 600;
  const FOLD_NESTED = 300;
  const FILTER_DEBOUNCE_MS = 250;
  const POLL_MS = 500;

  // Queues whose items are rows to label: the rows the build asks about, and the rows waiting in review/.
  const ROW_QUEUES = new Set(["ask", "rows"]);

  const REASONS = {
    ask: "asked",
    low_confidence: "low confidence",
    annotation_tie: "annotators tie",
    not_annotated: "not annotated",
    no_label: "no label given",
    label_issue: "possible label issue",
  };

  const $ = (id) => document.getElementById(id);
  const token = document.querySelector('meta[name="ftbuild-token"]')?.content ?? "";

  let state = null;
  const shownNotes = new Set();
  // Filter and cursor per queue, so switching tabs comes back to the same place.
  const memory = new Map();
  const view = {
    key: null,
    q: "",
    total: 0,
    start: 0, // queue offset of entries[0]
    entries: [], // {item, el} for the loaded window
    cursor: 0, // queue offset of the current item
    gen: 0, // bumped by every queue open; late answers for an older gen are dropped
    loading: false,
    opening: Promise.resolve(),
  };

  // ---- small DOM helpers -------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmt(x) {
    return typeof x === "number" && Number.isFinite(x) ? x.toFixed(2) : "";
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    const box = $("error");
    box.textContent = "";
    box.hidden = true;
  }

  function showNotes(lines) {
    const fresh = lines.filter((line) => line && !shownNotes.has(line));
    if (!fresh.length) return;
    const holder = $("banner-lines");
    for (const line of fresh) {
      shownNotes.add(line);
      holder.append(el("div", "banner-line", line));
    }
    $("banner").hidden = false;
  }

  // ---- server --------------------------------------------------------------

  async function request(url, options = {}) {
    const res = await fetch(url, { credentials: "same-origin", ...options });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const msg = data && typeof data.error === "string" ? data.error : `${res.status} ${res.statusText}`;
      throw new Error(msg);
    }
    if (data === null) throw new Error(`${url}: the server did not answer with JSON`);
    return data;
  }

  const get = (url) => request(url);
  const post = (url, body) =>
    request(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Token": token },
      body: JSON.stringify(body ?? {}),
    });

  // Decisions go out one after another, so an undo never overtakes the decide it undoes.
  let chain = Promise.resolve();
  let inFlight = 0;

  function enqueue(task) {
    inFlight += 1;
    document.body.dataset.busy = "1";
    const run = chain.then(task).finally(() => {
      inFlight -= 1;
      if (inFlight === 0) delete document.body.dataset.busy;
    });
    chain = run.catch(() => {});
    return run;
  }

  // ---- queues and tabs -----------------------------------------------------

  function queueInfo(key) {
    return state?.queues.find((q) => q.key === key) ?? null;
  }


  function renderHeader() {
    $("title").textContent = state.title;
    document.title = `${state.title} · review`;
    const meta = $("meta");
    meta.replaceChildren();
    const parts = [
      ["recipe", state.recipe],
      ["output", state.output],
      ["annotator", state.annotator],
      ["labels by", state.method],
    ];
    for (const [name, value] of parts) {
      if (!value) continue;
      const part = el("span", "meta-part");
      part.append(el("span", "meta-key", name + " "), el("code", null, value));
      meta.append(part);
    }
    if (state.many) {
      $("help-label").textContent = "add or remove a label";
      $("help-enter").textContent = "keep the labels shown, next";
    }
  }

  function renderTabs() {
    const nav = $("tabs");
    nav.replaceChildren();
    for (const q of state.queues) {
      const tab = el("button", "tab");
      tab.type = "button";
      tab.dataset.queue = q.key;
      tab.setAttribute("role", "tab");
      const head = el("span", "tab-head");
      head.append(el("span", "tab-title", q.title), el("span", "tab-count"));
      const bar = el("span", "tab-bar");
      bar.append(el("span", "tab-fill"));
      tab.append(head, bar);
      tab.addEventListener("click", () => {
        openQueue(q.key);
        focusList();
      });
      nav.append(tab);
      updateTab(q);
    }
    markActiveTab();
  }

  function updateTab(q) {
    const tab = document.querySelector(`button.tab[data-queue="${CSS.escape(q.key)}"]`);
    if (!tab) return;
    tab.classList.toggle("readonly", Boolean(q.readonly));
    tab.querySelector(".tab-count").textContent = q.readonly ? String(q.count) : `${q.done}/${q.count}`;
    const fill = tab.querySelector(".tab-fill");
    const bar = tab.querySelector(".tab-bar");
    bar.hidden = Boolean(q.readonly);
    const share = q.count > 0 ? Math.min(1, q.done / q.count) : 0;
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    tab.classList.toggle("complete", !q.readonly && q.count > 0 && q.done >= q.count);
  }

  function setProgress(key, done, count) {
    const q = queueInfo(key);
    if (!q) return;
    if (typeof done === "number") q.done = done;
    if (typeof count === "number") q.count = count;
    updateTab(q);
  }

  function markActiveTab() {
    for (const tab of document.querySelectorAll("button.tab")) {
      const active = tab.dataset.queue === view.key;
      tab.classList.toggle("active", active);
      tab.setAttribute("aria-selected", active ? "true" : "false");
    }
  }

  // ---- text rendering ------------------------------------------------------

  function plain(text) {
    return document.createTextNode(text);
  }

  // Long texts show their head and a more/less button; render builds the nodes of
  // a piece of text, so the diff view can fold the same way.
  function foldable(text, limit, render = plain) {
    const box = el("div", "text");
    const body = el("span", "text-body");
    box.append(body);
    text = text ?? "";
    if (text.length <= limit) {
      body.append(render(text));
      return box;
    }
    // Cut at a space near the limit so the diff does not mark half a word.
    let cut = text.lastIndexOf(" ", limit);
    if (cut < limit * 0.8) cut = limit;
    const head = text.slice(0, cut);
    let open = false;
    const toggle = el("button", "more", "more");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    const paint = () => {
      body.replaceChildren(render(open ? text : head));
      if (!open) body.append(el("span", "ellipsis", "…"));
      toggle.textContent = open ? "less" : "more";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    };
    toggle.addEventListener("click", (event) => {
      event.stopPropagation();
      open = !open;
      paint();
      focusList();
    });
    paint();
    box.append(" ", toggle);
    return box;
  }

  // Word-level comparison: a word is marked when the other text lacks it.
  function normWord(word) {
    return word.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
  }

  function wordSet(text) {
    const words = new Set();
    for (const token of (text ?? "").split(/\s+/)) {
      const w = normWord(token);
      if (w) words.add(w);
    }
    return words;
  }

  function markDifferences(otherWords) {
    return (text) => {
      const frag = document.createDocumentFragment();
      let run = "";
      for (const token of text.split(/(\s+)/)) {
        const w = normWord(token);
        if (w && !otherWords.has(w)) {
          if (run) frag.append(plain(run));
          run = "";
          frag.append(el("mark", null, token));
        } else {
          run += token;
        }
      }
      if (run) frag.append(plain(run));
      return frag;
    };
  }

  // ---- several labels per row -----------------------------------------------
  //
  // With labels_per_row: many a row's decision is the list of its labels. A label key or
  // click toggles one label, starting from the model's labels; Enter keeps what is shown
  // and moves on.

  function manyRows(entry) {
    return Boolean(state?.many) && ROW_QUEUES.has(entry?.key);
  }

  // The labels shown as chosen: the decision, or the suggestion until there is one.
  function shownSet(item) {
    return item.decision ?? item.suggestion ?? [];
  }

  function toggled(entry, label) {
    const now = new Set(shownSet(entry.item));
    if (now.has(label)) now.delete(label);
    else now.add(label);
    const next = state.labels.filter((name) => now.has(name));
    return next.length ? next : null;
  }

  function shown(value) {
    if (value == null) return "—";
    if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
    return value;
  }

  function holds(value, label) {
    return Array.isArray(value) ? value.includes(label) : value === label;
  }

  // ---- cards ---------------------------------------------------------------

  function labelButton(name, keyHint, extraClass) {
    const button = el("button", extraClass ? `label ${extraClass}` : "label");
    button.type = "button";
    button.dataset.label = name;
    if (keyHint) {
      button.append(el("span", "key", keyHint), plain(" "));
    }
    button.append(el("span", "name", name));
    return button;
  }

  function labelBar(entry) {
    const bar = el("div", "labels");
    const labels = state.labels;
    labels.forEach((name, i) => bar.append(labelButton(name, i < 9 ? String(i + 1) : "")));
    if (entry.key === "clusters") {
      const decision = entry.item.decision;
      // A cluster named with a new label still shows that name as a choice.
      if (decision && decision !== "drop" && !labels.includes(decision)) {
        bar.append(labelButton(decision, "", "custom"));
      }
      bar.append(labelButton("drop", "d", "drop"));
      const fresh = el("button", "new-label");
      fresh.type = "button";
      fresh.append(el("span", "key", "n"), plain(" new label…"));
      fresh.addEventListener("click", (event) => {
        event.stopPropagation();
        act(() => {
          if (!view.entries.includes(entry)) return;
          setCursor(indexOf(entry), false);
          return askNewLabel(entry);
        });
      });
      bar.append(fresh);
    }
    bar.addEventListener("click", (event) => {
      const button = event.target.closest("button.label");
      if (!button || !bar.contains(button)) return;
      event.stopPropagation();
      const label = button.dataset.label;
      act(() => {
        if (!view.entries.includes(entry)) return;
        setCursor(indexOf(entry), false);
        if (manyRows(entry)) return decide(entry, toggled(entry, label));
        return pick(entry, label);
      });
      focusList();
    });
    return bar;
  }

  function badge(className, text) {
    return el("span", `badge ${className}`, text);
  }

  function rowCard(entry) {
    const item = entry.item;
    const card = el("article", "item item-row");
    const head = el("header", "item-head");
    head.append(el("span", "item-id", item.id));
    if (item.reason) {
      const reason = badge("reason", REASONS[item.reason] ?? item.reason);
      reason.dataset.reason = item.reason;
      head.append(reason);
    }
    const given = el("span", "field");
    given.append(el("span", "field-key", "given "), el("span", "field-value", shown(item.given)));
    head.append(given);
    if (item.doubt) {
      head.append(el("span", "field doubt", `in doubt: ${item.doubt}`));
    }
    const suggestion = el("span", "field");
    suggestion.append(el("span", "field-key", "suggested "), el("span", "field-value", shown(item.suggestion)));
    if (item.suggestion != null && typeof item.score === "number") {
      suggestion.append(el("span", "score", ` ${fmt(item.score)}`));
    }
    head.append(suggestion, el("span", "decision"));
    card.append(head, foldable(item.text, FOLD), labelBar(entry));
    return card;
  }

  function nestedTexts(title, list) {
    const section = el("section", "nested");
    section.append(el("h3", null, title));
    const ol = el("ol", "nested-list");
    for (const row of list ?? []) {
      const li = el("li");
      li.append(el("span", "nested-id", row.id), foldable(row.text, FOLD_NESTED));
      ol.append(li);
    }
    if (!ol.childElementCount) ol.append(el("li", "muted", "none"));
    section.append(ol);
    return section;
  }

  function clusterCard(entry) {
    const item = entry.item;
    const card = el("article", "item item-cluster");
    const head = el("header", "item-head");
    head.append(
      el("span", "item-title", `Cluster ${item.cluster ?? item.id}`),
      el("span", "field", `${item.size} rows`),
      el("span", "decision"),
    );
    if (item.proposed) {
      head.append(el("span", "field proposed", `people's labels say ${item.proposed} (${item.proposed_by})`));
    }
    const terms = el("div", "terms");
    for (const term of item.terms ?? []) terms.append(el("span", "term", term));
    const cols = el("div", "nested-cols");
    cols.append(nestedTexts("Nearest to the centre", item.nearest), nestedTexts("Sample", item.sample));
    card.append(head, terms, cols, labelBar(entry));
    return card;
  }

  function pairCard(entry) {
    const item = entry.item;
    const card = el("article", "item item-pair");
    const head = el("header", "item-head");
    if (item.kind) head.append(badge("kind", item.kind));
    const sim = el("span", "field");
    sim.append(el("span", "field-key", "similarity "), el("span", "field-value", fmt(item.similarity)));
    head.append(sim);
    const a = wordSet(item.text);
    const b = wordSet(item.other_text);
    const pair = el("div", "pair");
    const side = (caption, id, text, other) => {
      const col = el("div", "side");
      const h = el("div", "side-head");
      h.append(el("span", "field-key", caption + " "), el("span", "item-id", id));
      col.append(h, foldable(text, FOLD, markDifferences(other)));
      return col;
    };
    pair.append(side("row", item.id, item.text, b), side("matches", item.other_id, item.other_text, a));
    card.append(head, pair);
    return card;
  }

  function buildCard(entry) {
    let card;
    if (entry.key === "clusters") card = clusterCard(entry);
    else if (ROW_QUEUES.has(entry.key)) card = rowCard(entry);
    else card = pairCard(entry);
    card.dataset.id = entry.item.id;
    card.addEventListener("click", () => setCursor(indexOf(entry), false));
    entry.el = card;
    paintDecision(entry);
    return card;
  }

  function paintDecision(entry) {
    const card = entry.el;
    if (!card) return;
    const { decision, suggestion, given } = entry.item;
    for (const button of card.querySelectorAll("button.label")) {
      const label = button.dataset.label;
      const chosen = decision != null && holds(decision, label);
      button.classList.toggle("chosen", chosen);
      button.classList.toggle("suggested", suggestion != null && holds(suggestion, label));
      const isGiven = given != null && holds(given, label);
      button.classList.toggle("given", isGiven);
      button.title = isGiven ? "a label this row has in the build" : "";
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    }
    const mark = card.querySelector(".decision");
    if (mark) {
      mark.textContent = decision == null ? "" : decision === "drop" ? "dropped" : `→ ${shown(decision)}`;
      mark.classList.toggle("decided", decision != null);
    }
    card.classList.toggle("decided", decision != null);
  }

  // ---- the list window -----------------------------------------------------

  // The queue key travels with the entry: a click on a card of the queue being
  // left must not post to the queue being opened.
  function wrap(item) {
    return { item, el: null, key: view.key };
  }

  function indexOf(entry) {
    const i = view.entries.indexOf(entry);
    return i < 0 ? view.cursor : view.start + i;
  }

  function currentEntry() {
    return view.entries[view.cursor - view.start] ?? null;
  }

  function focusList() {
    $("list").focus({ preventScroll: true });
  }

  function updateChrome() {
    const loadedEnd = view.start + view.entries.length;
    $("load-prev").hidden = view.start === 0;
    $("load-more").hidden = loadedEnd >= view.total;
    $("position").textContent = view.total ? `${view.cursor + 1} of ${view.total}` : "0 of 0";
    const empty = $("empty");
    empty.hidden = view.total > 0;
    empty.textContent = view.q ? "No items match the filter." : "Nothing to review in this queue.";
    memory.set(view.key, { q: view.q, cursor: view.cursor });
  }

  function setCursor(index, scroll = true) {
    if (!view.entries.length) {
      updateChrome();
      return;
    }
    const lo = view.start;
    const hi = view.start + view.entries.length - 1;
    index = Math.max(lo, Math.min(hi, index));
    const old = currentEntry();
    if (old?.el) {
      old.el.classList.remove("current");
      old.el.removeAttribute("aria-current");
    }
    view.cursor = index;
    const now = currentEntry();
    now.el.classList.add("current");
    now.el.setAttribute("aria-current", "true");
    if (scroll) now.el.scrollIntoView({ block: "nearest" });
    updateChrome();
  }

  async function fetchPage(offset, limit) {
    const params = new URLSearchParams({ offset: String(offset), limit: String(limit) });
    if (view.q) params.set("q", view.q);
    return get(`/api/queue/${encodeURIComponent(view.key)}?${params}`);
  }

  function openQueue(key, options) {
    view.opening = loadQueue(key, options);
    return view.opening;
  }

  async function loadQueue(key, { cursor, q } = {}) {
    if (!queueInfo(key)) return;
    const remembered = memory.get(key);
    view.gen += 1;
    const gen = view.gen;
    view.key = key;
    view.q = q ?? remembered?.q ?? "";
    view.loading = true;
    markActiveTab();
    $("filter").value = view.q;
    const want = Math.max(0, cursor ?? remembered?.cursor ?? 0);
    try {
      let data = await fetchPage(Math.floor(want / PAGE) * PAGE, PAGE);
      // The remembered place may lie past the end once the queue shrank.
      if (gen === view.gen && !data.rows.length && data.total > 0 && data.offset > 0) {
        data = await fetchPage(0, PAGE);
      }
      if (gen !== view.gen) return;
      view.total = data.total;
      view.start = data.offset;
      view.entries = data.rows.map(wrap);
      const items = $("items");
      items.replaceChildren(...view.entries.map(buildCard));
      $("list").scrollTop = 0;
      view.cursor = view.start;
      setCursor(Math.min(want, view.start + view.entries.length - 1));
    } catch (err) {
      if (gen === view.gen) {
        showError(`Could not load ${key}: ${err.message}`);
        view.entries = [];
        view.total = 0;
        $("items").replaceChildren();
        updateChrome();
      }
    } finally {
      if (gen === view.gen) view.loading = false;
    }
  }

  async function loadMore() {
    const end = view.start + view.entries.length;
    if (view.loading || end >= view.total) return false;
    const gen = view.gen;
    view.loading = true;
    try {
      const data = await fetchPage(end, PAGE);
      if (gen !== view.gen) return false;
      view.total = data.total;
      const fresh = data.rows.map(wrap);
      view.entries.push(...fresh);
      $("items").append(...fresh.map(buildCard));
      const excess = view.entries.length - MAX_LOADED;
      if (excess > 0) {
        for (const gone of view.entries.splice(0, excess)) gone.el.remove();
        view.start += excess;
      }
      updateChrome();
      return fresh.length > 0;
    } catch (err) {
      if (gen === view.gen) showError(`Could not load more: ${err.message}`);
      return false;
    } finally {
      if (gen === view.gen) view.loading = false;
    }
  }

  async function loadPrevious() {
    if (view.loading || view.start === 0) return false;
    const gen = view.gen;
    view.loading = true;
    const offset = Math.max(0, view.start - PAGE);
    try {
      const data = await fetchPage(offset, view.start - offset);
      if (gen !== view.gen) return false;
      view.total = data.total;
      const fresh = data.rows.map(wrap);
      view.entries.unshift(...fresh);
      $("items").prepend(...fresh.map(buildCard));
      view.start = offset;
      const excess = view.entries.length - MAX_LOADED;
      if (excess > 0) {
        for (const gone of view.entries.splice(view.entries.length - excess, excess)) gone.el.remove();
      }
      updateChrome();
      return fresh.length > 0;
    } catch (err) {
      if (gen === view.gen) showError(`Could not load previous items: ${err.message}`);
      return false;
    } finally {
      if (gen === view.gen) view.loading = false;
    }
  }

  // Keys arrive faster than pages load. Actions that depend on the current item
  // run one after another, so a second "1" never lands on the item the first one
  // already labelled; a queue switch or new filter (a new gen) drops the rest.
  let actions = Promise.resolve();

  function act(fn) {
    const gen = view.gen;
    actions = actions
      .then(async () => {
        await view.opening;
        if (gen === view.gen) await fn();
      })
      .catch((err) => showError(err.message));
    return actions;
  }

  async function move(delta) {
    if (!view.entries.length) return;
    const target = view.cursor + delta;
    if (target < 0 || target >= view.total) return;
    if (target >= view.start + view.entries.length && !(await loadMore())) return;
    if (target < view.start && !(await loadPrevious())) return;
    setCursor(target);
  }

  // ---- decisions -----------------------------------------------------------

  async function pick(entry, label) {
    if (decide(entry, label) && entry === currentEntry()) await move(1);
  }

  // Returns whether a decision went out.
  function decide(entry, label) {
    const key = entry?.key;
    if (!entry || queueInfo(key)?.readonly || (key !== "clusters" && !ROW_QUEUES.has(key))) return false;
    const before = entry.item.decision;
    // Show the choice at once; the server's answer confirms or reverts it.
    entry.item.decision = label;
    paintDecision(entry);
    enqueue(async () => {
      try {
        const res = await post("/api/decide", { queue: key, id: entry.item.id, label });
        entry.item.decision = res.decision ?? null;
        paintDecision(entry);
        setProgress(key, res.done, res.count);
        if (res.note) showNotes([res.note]);
        clearError();
        setStatus(`Saved ${entry.item.id}`);
      } catch (err) {
        entry.item.decision = before;
        paintDecision(entry);
        showError(`Could not save ${entry.item.id}: ${err.message}`);
      }
    });
    return true;
  }

  async function askNewLabel(entry) {
    if (!entry || entry.key !== "clusters") return;
    const answer = window.prompt("New label name for this cluster:", "");
    const name = (answer ?? "").trim();
    if (!name) {
      focusList();
      return;
    }
    // Reuse an existing label when only the case differs.
    const known = state.labels.find((l) => l.toLowerCase() === name.toLowerCase());
    await pick(entry, known ?? name);
    focusList();
    if (!known && name !== "drop") {
      // Not awaited: the action queue need not wait for the label list.
      chain.then(refreshLabels);
    }
  }

  // A new label may join the server's label list; redraw the cards if it did.
  async function refreshLabels() {
    try {
      const fresh = await get("/api/state");
      const changed = JSON.stringify(fresh.labels) !== JSON.stringify(state.labels);
      state.labels = fresh.labels;
      if (changed) {
        const cursor = view.cursor;
        $("items").replaceChildren(...view.entries.map(buildCard));
        setCursor(cursor, false);
      }
    } catch (err) {
      showError(`Could not reload labels: ${err.message}`);
    }
  }

  function undo() {
    enqueue(async () => {
      try {
        const res = await post("/api/undo", {});
        if (res.queue == null) {
          setStatus("Nothing to undo");
          return;
        }
        setProgress(res.queue, res.done, res.count);
        clearError();
        setStatus(`Undone ${res.id}`);
        if (res.queue !== view.key) await openQueue(res.queue);
        const i = view.entries.findIndex((e) => e.item.id === res.id);
        if (i >= 0) {
          const entry = view.entries[i];
          entry.item.decision = res.decision ?? null;
          paintDecision(entry);
          setCursor(view.start + i);
        }
      } catch (err) {
        showError(`Could not undo: ${err.message}`);
      }
    });
  }

  // ---- rebuild -------------------------------------------------------------

  let rebuilding = false;

  function setRebuildStatus(text, kind) {
    const status = $("rebuild-status");
    status.textContent = text;
    status.dataset.kind = kind;
  }

  async function startRebuild() {
    if (rebuilding) return;
    rebuilding = true;
    $("rebuild").disabled = true;
    $("rebuild-log").textContent = "";
    $("rebuild-panel").hidden = false;
    setRebuildStatus("Rebuilding…", "running");
    try {
      await post("/api/rebuild", {});
    } catch (err) {
      showError(`Could not start the rebuild: ${err.message}`);
      setRebuildStatus("Rebuild failed", "failed");
      rebuilding = false;
      $("rebuild").disabled = false;
      return;
    }
    pollRebuild();
  }

  async function pollRebuild() {
    let res;
    try {
      res = await get("/api/rebuild");
    } catch (err) {
      showError(`Lost the rebuild: ${err.message}`);
      setRebuildStatus("Rebuild failed", "failed");
      rebuilding = false;
      $("rebuild").disabled = false;
      return;
    }
    const log = $("rebuild-log");
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = (res.lines ?? []).join("\n");
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (res.running) {
      setTimeout(pollRebuild, POLL_MS);
      return;
    }
    rebuilding = false;
    $("rebuild").disabled = false;
    if (res.exit_code === 0) {
      await reloadEverything();
      setRebuildStatus("Rebuilt", "ok");
    } else {
      setRebuildStatus("Rebuild failed", "failed");
      $("rebuild-panel").hidden = false;
    }
  }

  async function reloadEverything() {
    try {
      state = await get("/api/state");
    } catch (err) {
      showError(`Could not reload the state: ${err.message}`);
      return;
    }
    renderHeader();
    // A new build means new positions: every queue starts again at its first item.
    for (const [key, saved] of memory) memory.set(key, { q: saved.q, cursor: 0 });
    const key = queueInfo(view.key) ? view.key : state.first;
    renderTabs();
    showNotes(state.notes ?? []);
    await openQueue(key, { cursor: 0 });
  }

  // ---- keyboard ------------------------------------------------------------

  let filterTimer = null;

  function applyFilter() {
    clearTimeout(filterTimer);
    filterTimer = null;
    const q = $("filter").value.trim();
    if (q === view.q) return;
    openQueue(view.key, { q, cursor: 0 });
  }

  function switchTab(step) {
    const keys = state.queues.map((q) => q.key);
    const i = keys.indexOf(view.key);
    if (i < 0 || !keys.length) return;
    openQueue(keys[(i + step + keys.length) % keys.length]);
  }

  function onKey(event) {
    if (!state || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement) {
      const tag = target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return;
      // A focused button keeps its own Enter and Space.
      if (tag === "BUTTON" && (event.key === "Enter" || event.key === " ")) return;
    }
    const key = event.key;
    const labelling = ROW_QUEUES.has(view.key) || view.key === "clusters";
    let handled = true;
    if (/^[1-9]$/.test(key)) {
      const label = state.labels[Number(key) - 1];
      if (labelling && label !== undefined) {
        act(() => {
          const entry = currentEntry();
          if (manyRows(entry)) return decide(entry, toggled(entry, label));
          return pick(entry, label);
        });
      }
    } else if (key === "Enter") {
      if (ROW_QUEUES.has(view.key)) {
        act(() => {
          const entry = currentEntry();
          if (manyRows(entry) && shownSet(entry.item).length) return pick(entry, shownSet(entry.item));
          setStatus("No suggestion for this row");
        });
      }
    } else if (key === "d") {
      if (view.key === "clusters") act(() => pick(currentEntry(), "drop"));
    } else if (key === "n") {
      if (view.key === "clusters") act(() => askNewLabel(currentEntry()));
    } else if (key === "ArrowDown" || key === "j") {
      act(() => move(1));
    } else if (key === "ArrowUp" || key === "k") {
      act(() => move(-1));
    } else if (key === "[") {
      switchTab(-1);
    } else if (key === "]") {
      switchTab(1);
    } else if (key === "u") {
      undo();
    } else if (key === "/") {
      $("filter").focus();
      $("filter").select();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  }

  function onFilterKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      applyFilter();
      focusList();
    } else if (event.key === "Enter") {
      event.preventDefault();
      applyFilter();
      focusList();
    }
  }

  // ---- start ---------------------------------------------------------------

  function wire() {
    document.addEventListener("keydown", onKey);
    const filter = $("filter");
    filter.addEventListener("input", () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(applyFilter, FILTER_DEBOUNCE_MS);
    });
    filter.addEventListener("keydown", onFilterKey);
    $("rebuild").addEventListener("click", () => {
      startRebuild();
      focusList();
    });
    $("rebuild-close").addEventListener("click", () => {
      $("rebuild-panel").hidden = true;
    });
    $("banner-close").addEventListener("click", () => {
      $("banner").hidden = true;
      $("banner-lines").replaceChildren();
      focusList();
    });
    $("error").addEventListener("click", clearError);
    $("load-more").addEventListener("click", () => {
      act(loadMore);
      focusList();
    });
    $("load-prev").addEventListener("click", () => {
      act(loadPrevious);
      focusList();
    });
  }

  async function start() {
    wire();
    try {
      state = await get("/api/state");
    } catch (err) {
      showError(`Could not load the review state: ${err.message}`);
      return;
    }
    renderHeader();
    renderTabs();
    showNotes(state.notes ?? []);
    const first = queueInfo(state.first) ? state.first : state.queues[0]?.key;
    if (first) await openQueue(first);
    else updateChrome();
    focusList();
    document.body.dataset.ready = "1";
    // Pick up a build that was already running when the page was opened.
    try {
      const res = await get("/api/rebuild");
      if (res.running && !rebuilding) {
        rebuilding = true;
        $("rebuild").disabled = true;
        $("rebuild-panel").hidden = false;
        setRebuildStatus("Rebuilding…", "running");
        pollRebuild();
      }
    } catch (err) {
      console.warn("rebuild status unavailable:", err.message);
    }
  }

  start();
})();
