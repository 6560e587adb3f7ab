/*! survey-streams reference widget. Plain ES2017, no dependencies, no external resources.
 * SurveyStreams.init({host, widgetKey, userId, userHash, pollSeconds, locale, url, device, labels,
 *                     onDisplay, onAnswer, onComplete, onDismiss, onError})
 * Polls GET {host}/v1/eligibility/{userId}?locale=&url=; when eligible shows the survey in a card,
 * asking only the questions whose show_if holds on the answers so far, and posts
 * shown / answered / submitted / closed to POST {host}/v1/widget/events. */
(function (root) {
  "use strict";
  const doc = root.document;
  const me = doc && doc.currentScript;
  const scriptHost = me && me.src ? new URL(me.src, root.location.href).origin : "";

  // --- pure logic (no DOM; SurveyStreams.logic, tested under node in tests/web/test_widget_logic.py) ---

  // Score categories: these bands must match the server's (streams/core/questions.py, BANDS and category_of;
  // the test above checks every value against it), or the widget would ask a follow-up the server drops.
  const CATEGORY_BANDS = {
    nps: [[9, 10, "promoter"], [7, 8, "passive"], [0, 6, "detractor"]],
    csat: [[4, 5, "satisfied"], [3, 3, "neutral"], [1, 2, "unsatisfied"]],
    ces: [[5, 7, "easy"], [4, 4, "neutral"], [1, 3, "difficult"]],
  };
  const PMF_CATEGORIES = ["very_disappointed", "somewhat_disappointed", "not_disappointed"];
  const PMF_TEXTS = ["very disappointed", "somewhat disappointed", "not disappointed"];  // config.PMF_CHOICES
  const words = s => s.trim().toLowerCase().split(/\s+/).join(" ");

  // The category of `value` answered to `question` of a survey of type `type`, else null.
  function category(type, question, value) {
    if (!question || value == null) return null;
    if (type === "pmf") {
      if (question.kind !== "choice" || typeof value !== "string") return null;
      const named = words(value);
      if (PMF_CATEGORIES.includes(named)) return named;
      if (PMF_TEXTS.includes(named)) return PMF_CATEGORIES[PMF_TEXTS.indexOf(named)];
      const at = (question.choices || []).indexOf(value);  // choices run from very to not
      return at < 0 ? null : PMF_CATEGORIES[Math.min(at, PMF_CATEGORIES.length - 1)];
    }
    if (question.kind !== "scale" || typeof value !== "number" || !Number.isInteger(value)) return null;
    const band = (CATEGORY_BANDS[type] || []).find(([low, high]) => low <= value && value <= high);
    return band ? band[2] : null;
  }

  // The filter operators of streams/core/filters.py applied to an answer, with its typing rules
  // (a number and a numeric string compare as numbers; mismatched types are never equal or ordered).
  // Date operands and the *_days operators do not apply to answers: they never hold here.
  const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;
  const isNum = v => typeof v === "number" && !Number.isNaN(v);
  const asNum = v => isNum(v) ? v : typeof v === "string" && v.length <= 64 && NUMERIC.test(v) ? Number(v.trim()) : null;
  function typed(value, operand) {
    const vb = typeof value === "boolean", ob = typeof operand === "boolean";
    if (vb || ob) return vb && ob ? ["bool", value, operand] : null;
    if (isNum(value) || isNum(operand)) {
      const l = asNum(value), r = asNum(operand);
      return l === null || r === null ? null : ["number", l, r];
    }
    const vs = typeof value === "string", os = typeof operand === "string";
    if (vs || os) return vs && os ? ["string", value, operand] : null;
    return ["other", JSON.stringify(value), JSON.stringify(operand)];
  }
  const equal = (v, x) => { const p = typed(v, x); return !!p && p[1] === p[2]; };
  const ORDER = {gt: (a, b) => a > b, gte: (a, b) => a >= b, lt: (a, b) => a < b, lte: (a, b) => a <= b};
  const members = x => Array.isArray(x) ? x : [x];
  const textOf = x => typeof x === "string" ? x : isNum(x) ? String(x) : null;

  function matches(op, operand, present, value) {
    if (!present) return op === "not_exists" || op === "neq" || op === "nin";
    switch (op) {
      case "exists": return true;
      case "not_exists": return false;
      case "eq": return equal(value, operand);
      case "neq": return !equal(value, operand);
      case "in": return members(operand).some(m => equal(value, m));
      case "nin": return !members(operand).some(m => equal(value, m));
      case "contains": {
        if (Array.isArray(value)) return value.some(item => equal(item, operand));
        const needle = textOf(operand);
        return typeof value === "string" && needle !== null && value.includes(needle);
      }
      case "starts_with": {
        const prefix = textOf(operand);
        return typeof value === "string" && prefix !== null && value.startsWith(prefix);
      }
      default: {
        const p = ORDER[op] && typed(value, operand);
        return !!p && (p[0] === "number" || p[0] === "string") && ORDER[op](p[1], p[2]);
      }
    }
  }

  // Whether a question's show_if holds on the answers given so far (no show_if: always).
  function holds(survey, showIf, answers) {
    if (!showIf) return true;
    const value = answers[showIf.question];
    const present = value !== undefined && value !== null;
    if (Array.isArray(showIf.category)) {
      const q = (survey.questions || []).find(x => x.id === showIf.question);
      return present && showIf.category.includes(category(survey.type, q, value));
    }
    return matches(showIf.op, showIf.value, present, value);
  }

  // The questions to ask, in order, and the answers that count, given what the user has put in
  // (`draft`: question id -> value), as streams/core/questions.py `asked` keeps them. A question whose condition fails is not asked and what it
  // holds is no answer, so questions that depend on it are not asked either.
  function walk(survey, draft) {
    const asked = [], answers = {};
    (survey.questions || []).forEach(q => {
      if (!holds(survey, q.show_if, answers)) return;
      asked.push(q);
      if (Object.prototype.hasOwnProperty.call(draft, q.id)) answers[q.id] = draft[q.id];
    });
    return {asked, answers};
  }
  // The first question to ask that has no answer yet, else null.
  function next(survey, draft) {
    const w = walk(survey, draft);
    return w.asked.find(q => !Object.prototype.hasOwnProperty.call(w.answers, q.id)) || null;
  }

  // Right-to-left by script subtag when there is one (az-Arab), else by language.
  const RTL_LANGS = new Set(["ar", "arc", "azb", "bqi", "ckb", "dv", "fa", "glk", "he", "iw", "ji", "ks", "lrc",
    "mzn", "nqo", "pnb", "prs", "ps", "sd", "sdh", "syr", "ug", "ur", "yi"]);
  const RTL_SCRIPTS = new Set(["adlm", "arab", "hebr", "mand", "mend", "nkoo", "rohg", "samr", "syrc", "thaa", "yezi"]);
  function dirFor(locale) {
    const parts = String(locale || "").toLowerCase().split(/[-_]/);
    const script = parts.slice(1).find(p => /^[a-z]{4}$/.test(p));
    if (script) return RTL_SCRIPTS.has(script) ? "rtl" : "ltr";
    return RTL_LANGS.has(parts[0]) ? "rtl" : "ltr";
  }

  // The eligibility query: userHash, the browser's language and the page (options override;
  // "" or null leaves one out). A very long address is cut: page rules look at its start.
  function query(o, nav, loc) {
    const pick = (given, fallback) => given === undefined ? fallback : given;
    const params = [["userHash", o.userHash], ["locale", pick(o.locale, nav && nav.language)],
      ["url", String(pick(o.url, loc && loc.href) || "").slice(0, 2000)], ["device", o.device]];
    const q = params.filter(([, v]) => v != null && v !== "")
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    return q ? `?${q}` : "";
  }

  // The widget's own words (buttons, scale ends), by the survey's language; `labels` overrides.
  // Non-ASCII is written as \u escapes: the file reads the same whatever charset a site serves it with.
  const LABELS = {
    en: {submit: "Submit", close: "Close survey", thanks: "Thank you for your feedback!", of: "{v} of {max}",
      nps: ["Not at all likely", "Extremely likely"], csat: ["Very unsatisfied", "Very satisfied"],
      ces: ["Very difficult", "Very easy"]},
    de: {submit: "Absenden", close: "Umfrage schlie\u00dfen", thanks: "Vielen Dank f\u00fcr Ihr Feedback!", of: "{v} von {max}",
      nps: ["\u00dcberhaupt nicht wahrscheinlich", "\u00c4u\u00dferst wahrscheinlich"], csat: ["Sehr unzufrieden", "Sehr zufrieden"],
      ces: ["Sehr schwierig", "Sehr einfach"]},
    fr: {submit: "Envoyer", close: "Fermer le questionnaire", thanks: "Merci pour votre avis !", of: "{v} sur {max}",
      nps: ["Pas du tout probable", "Extr\u00eamement probable"], csat: ["Tr\u00e8s insatisfait", "Tr\u00e8s satisfait"],
      ces: ["Tr\u00e8s difficile", "Tr\u00e8s facile"]},
    es: {submit: "Enviar", close: "Cerrar la encuesta", thanks: "\u00a1Gracias por tu opini\u00f3n!", of: "{v} de {max}",
      nps: ["Nada probable", "Muy probable"], csat: ["Muy insatisfecho", "Muy satisfecho"],
      ces: ["Muy dif\u00edcil", "Muy f\u00e1cil"]},
    ar: {submit: "\u0625\u0631\u0633\u0627\u0644", close: "\u0625\u063a\u0644\u0627\u0642 \u0627\u0644\u0627\u0633\u062a\u0628\u064a\u0627\u0646", thanks: "\u0634\u0643\u0631\u064b\u0627 \u0639\u0644\u0649 \u0645\u0644\u0627\u062d\u0638\u0627\u062a\u0643!", of: "{v} \u0645\u0646 {max}",
      nps: ["\u063a\u064a\u0631 \u0645\u062d\u062a\u0645\u0644 \u0639\u0644\u0649 \u0627\u0644\u0625\u0637\u0644\u0627\u0642", "\u0645\u062d\u062a\u0645\u0644 \u0644\u0644\u063a\u0627\u064a\u0629"], csat: ["\u063a\u064a\u0631 \u0631\u0627\u0636\u064d \u0625\u0637\u0644\u0627\u0642\u064b\u0627", "\u0631\u0627\u0636\u064d \u062c\u062f\u064b\u0627"],
      ces: ["\u0635\u0639\u0628 \u062c\u062f\u064b\u0627", "\u0633\u0647\u0644 \u062c\u062f\u064b\u0627"]},
    he: {submit: "\u05e9\u05dc\u05d9\u05d7\u05d4", close: "\u05e1\u05d2\u05d9\u05e8\u05ea \u05d4\u05e1\u05e7\u05e8", thanks: "\u05ea\u05d5\u05d3\u05d4 \u05e2\u05dc \u05d4\u05de\u05e9\u05d5\u05d1!", of: "{v} \u05de\u05ea\u05d5\u05da {max}",
      nps: ["\u05d1\u05db\u05dc\u05dc \u05dc\u05d0 \u05e1\u05d1\u05d9\u05e8", "\u05e1\u05d1\u05d9\u05e8 \u05de\u05d0\u05d5\u05d3"], csat: ["\u05de\u05d0\u05d5\u05d3 \u05dc\u05d0 \u05de\u05e8\u05d5\u05e6\u05d4", "\u05de\u05e8\u05d5\u05e6\u05d4 \u05de\u05d0\u05d5\u05d3"], ces: ["\u05e7\u05e9\u05d4 \u05de\u05d0\u05d5\u05d3", "\u05e7\u05dc \u05de\u05d0\u05d5\u05d3"]},
  };
  function labelsFor(locale, overrides) {
    const lang = String(locale || "en").toLowerCase().split(/[-_]/)[0];
    return Object.assign({}, LABELS.en, LABELS[lang === "iw" ? "he" : lang], overrides);
  }

  // --- the card ---

  const CSS = `
.ssw-card{--ssw-accent:#4f46e5;position:fixed;inset-inline-end:16px;bottom:16px;z-index:2147483000;box-sizing:border-box;
width:min(400px,calc(100vw - 32px));max-height:calc(100vh - 32px);overflow:auto;padding:20px 20px 16px;
background:#fff;color:#1f2937;border:1px solid #e5e7eb;border-radius:12px;box-shadow:0 10px 30px rgba(0,0,0,.18);
font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;animation:ssw-in .2s ease-out}
.ssw-card *{box-sizing:border-box;font:inherit}
.ssw-card [hidden]{display:none!important}
.ssw-card:focus{outline:none}
.ssw-q{margin:0 0 14px;padding:0;border:0;min-width:0}
.ssw-label{display:block;margin:0 0 8px;margin-inline-end:24px;padding:0;font-weight:600}
.ssw-scale{display:flex;gap:4px}
.ssw-scale .ssw-option{flex:1 1 0;min-width:0;padding:8px 0}
.ssw-choices{display:flex;flex-direction:column;gap:6px}
.ssw-option{cursor:pointer;background:#fff;color:inherit;border:1px solid #d1d5db;border-radius:6px}
.ssw-option:hover{border-color:var(--ssw-accent);background:#eef2ff}
.ssw-option[aria-pressed=true]{background:var(--ssw-accent);border-color:var(--ssw-accent);color:#fff}
.ssw-choice{display:flex;align-items:center;gap:8px;padding:8px 10px;cursor:pointer;border:1px solid #d1d5db;border-radius:6px}
.ssw-choice:hover{border-color:var(--ssw-accent)}
.ssw-choice:has(input:checked){border-color:var(--ssw-accent);background:#eef2ff}
.ssw-choice input{margin:0;accent-color:var(--ssw-accent)}
.ssw-ends{display:flex;justify-content:space-between;margin-top:4px;font-size:12px;color:#6b7280}
.ssw-card textarea{display:block;width:100%;min-height:64px;padding:8px;resize:vertical;border:1px solid #d1d5db;border-radius:6px}
.ssw-actions{display:flex;justify-content:flex-end}
.ssw-submit{cursor:pointer;padding:8px 18px;border:0;border-radius:6px;background:var(--ssw-accent);color:#fff;font-weight:600}
.ssw-submit:disabled{cursor:default;opacity:.45}
.ssw-close{position:absolute;top:8px;inset-inline-end:8px;width:28px;height:28px;padding:0;cursor:pointer;border:0;border-radius:6px;
background:transparent;color:#6b7280;font-size:20px;line-height:1}
.ssw-close:hover{background:#f3f4f6;color:#111827}
.ssw-card button:focus-visible,.ssw-card textarea:focus-visible,.ssw-card input:focus-visible{outline:2px solid var(--ssw-accent);outline-offset:2px}
.ssw-thanks{margin:8px 0;font-weight:600;text-align:center}
@keyframes ssw-in{from{opacity:0;transform:translateY(8px)}}
@media (prefers-reduced-motion:reduce){.ssw-card{animation:none}}`;
  const REQUIRED = new Set(["scale", "choice"]);  // Submit waits for these; text and multi may stay empty
  const SETTLE_MS = 800;  // choice / multi answers are posted once the user settles (or leaves the group)
  const has = (m, k) => Object.prototype.hasOwnProperty.call(m, k);

  function uuid() {
    const c = root.crypto;
    if (c && c.randomUUID) return c.randomUUID();  // secure contexts (https, localhost) only
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b); else b.forEach((_, i) => { b[i] = Math.random() * 256 | 0; });
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    const h = Array.from(b, x => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function el(tag, attrs, kids) {
    const e = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(k => {
      const v = attrs[k];
      if (v == null) return;
      if (k === "text") e.textContent = v;
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    });
    (kids || []).forEach(c => c && e.appendChild(c));
    return e;
  }

  function init(options) {
    const o = Object.assign({host: scriptHost, pollSeconds: 60}, options);
    if (o.userId == null || o.userId === "") throw new Error("SurveyStreams.init: userId is required");
    const host = String(o.host || "").replace(/\/+$/, "");
    const userId = String(o.userId);
    const headers = o.widgetKey ? {"X-Widget-Key": o.widgetKey} : {};
    const done = new Set();  // surveys displayed on this page: not shown again before a reload
    let timer = null, busy = false, stopped = false, cur = null, outbox = Promise.resolve();

    const call = (name, arg) => { try { if (typeof o[name] === "function") o[name](arg); } catch (e) { console.error(e); } };
    const schedule = () => {
      clearTimeout(timer);
      if (!stopped && !cur) timer = setTimeout(poll, Math.max(1, Number(o.pollSeconds) || 60) * 1000);
    };

    async function poll() {
      clearTimeout(timer);
      if (stopped || cur || busy) return;
      busy = true;
      try {
        if (!doc.hidden) {
          const r = await fetch(`${host}/v1/eligibility/${encodeURIComponent(userId)}${query(o, root.navigator, root.location)}`,
            {headers, cache: "no-store", credentials: "omit"});
          if (r.status === 401 || r.status === 403) {  // wrong key or hash: polling will not fix it
            stopped = true;
            call("onError", {status: r.status, error: await r.json().catch(() => null)});
            console.warn(`survey-streams: eligibility refused (${r.status}); check widgetKey / userHash`);
            return;
          }
          const d = r.ok ? await r.json() : null;
          if (d && d.eligible && d.survey && d.display && !done.has(d.survey.id) && !stopped) return show(d.survey, d.display);
        }
      } catch (e) { /* network trouble: try again at the next poll */ } finally { busy = false; }
      schedule();
    }

    // Events leave one request at a time, in order, so the bridge sees them as they happened. They carry
    // the locale the survey is shown in when the bridge named one (bridges before locales know no such field).
    function post(display, events) {
      const extra = Object.assign({}, o.userHash ? {userHash: o.userHash} : {},
        display.survey.locale ? {locale: display.survey.locale} : {});
      const body = events.map(e => Object.assign({messageId: uuid(), userId, surveyId: display.survey.id,
        displayId: display.id, displayToken: display.token}, extra, e));
      const payload = JSON.stringify(body.length === 1 ? body[0] : {batch: body});
      const attempt = async n => {
        try {
          const r = await fetch(`${host}/v1/widget/events`, {method: "POST", body: payload, credentials: "omit",
            headers: Object.assign({"Content-Type": "application/json"}, headers)});
          if (r.status < 500) {
            if (!r.ok) call("onError", {status: r.status, error: await r.json().catch(() => null)});
            return;
          }
        } catch (e) { /* retried below */ }
        if (n < 3) { await new Promise(ok => setTimeout(ok, 500 * 2 ** n)); return attempt(n + 1); }
        call("onError", {status: 0, error: "widget events could not be delivered"});
      };
      outbox = outbox.then(() => attempt(0));
      return outbox;
    }

    // The bridge opens each display: its id and signed token come with the eligible answer.
    function show(survey, display) {
      const d = cur = {survey, id: display.id, token: display.token, draft: {}, sent: {}, back: doc.activeElement};
      if (!doc.getElementById("ssw-style")) doc.head.appendChild(el("style", {id: "ssw-style", text: CSS}));
      const locale = survey.locale || null;
      const dir = survey.dir === "rtl" || survey.dir === "ltr" ? survey.dir : locale ? dirFor(locale) : null;
      const t = labelsFor(locale, o.labels);
      const info = () => ({survey, displayId: d.id, locale, answers: Object.assign({}, walk(survey, d.draft).answers)});
      const submit = el("button", {type: "button", class: "ssw-submit", "data-testid": "ssw-submit", disabled: "",
        text: t.submit, onclick: () => end("submitted")});
      let settle = null;

      function sendAnswer(q, value) {
        d.sent[q.id] = JSON.stringify(value);
        call("onAnswer", Object.assign(info(), {questionId: q.id, value}));
        return {type: "answered", questionId: q.id, value};
      }
      // Answers asked and not yet posted (text, choice, multi wait; a scale answer leaves at once).
      function pending() {
        const w = walk(survey, d.draft);
        return w.asked.filter(q => has(w.answers, q.id) && d.sent[q.id] !== JSON.stringify(w.answers[q.id]))
          .map(q => sendAnswer(q, w.answers[q.id]));
      }
      function flush() {
        clearTimeout(settle);
        const events = pending();
        if (events.length) post(d, events);
      }
      // What the user put in changed: show the questions now asked, hide the others.
      function refresh() {
        const w = walk(survey, d.draft);
        views.forEach(v => { v.box.hidden = !w.asked.includes(v.q); });
        submit.disabled = !w.asked.filter(x => REQUIRED.has(x.kind)).every(x => has(w.answers, x.id));
      }
      function update(q, value, postNow) {
        if (value === undefined) delete d.draft[q.id]; else d.draft[q.id] = value;
        refresh();
        if (postNow) post(d, [sendAnswer(q, value)]);
      }
      function end(type) {
        if (cur !== d || d.ended) return;
        d.ended = true;
        clearTimeout(settle);
        post(d, pending().concat([{type}]));
        done.add(survey.id);
        call(Object.keys(d.sent).length ? "onComplete" : "onDismiss", info());  // as the workers will see it
        if (type === "submitted") {
          card.textContent = "";
          card.appendChild(el("p", {class: "ssw-thanks", role: "status", "data-testid": "ssw-thanks", text: t.thanks}));
          card.focus({preventScroll: true});
          setTimeout(hide, 2000);
        } else hide();
      }
      function hide() {
        if (cur !== d) return;
        card.remove();
        cur = null;
        if (d.back && d.back.focus && doc.contains(d.back)) d.back.focus({preventScroll: true});
        schedule();
      }

      function scale(q, lid) {
        const values = Array.from({length: q.max - q.min + 1}, (_, k) => q.min + k);
        const buttons = values.map((v, k) => el("button", {type: "button", class: "ssw-option", "data-value": v,
          "aria-pressed": "false", "aria-label": t.of.replace("{v}", v).replace("{max}", q.max), text: String(v),
          tabindex: k ? "-1" : "0", onclick: ev => {
            buttons.forEach(b => {
              b.setAttribute("aria-pressed", String(b === ev.currentTarget));
              b.tabIndex = b === ev.currentTarget ? 0 : -1;
            });
            update(q, v, true);
          }}));
        const ends = t[survey.type];
        const endsEl = ends && el("div", {id: `${lid}-ends`, class: "ssw-ends"},
          [el("span", {text: ends[0]}), el("span", {text: ends[1]})]);
        // One tab stop for the scale; arrows (mirrored right-to-left), Home and End move along it.
        const group = el("div", {role: "group", class: "ssw-scale", "aria-labelledby": lid,
          "aria-describedby": endsEl ? endsEl.id : null, onkeydown: ev => {
            const back = dir === "rtl" ? -1 : 1;
            const step = {ArrowRight: back, ArrowLeft: -back, ArrowDown: 1, ArrowUp: -1}[ev.key];
            const at = buttons.indexOf(doc.activeElement);
            if (at < 0) return;
            const to = ev.key === "Home" ? 0 : ev.key === "End" ? buttons.length - 1 : step ? at + step : -1;
            if (!buttons[to]) return;
            ev.preventDefault();
            buttons.forEach(b => { b.tabIndex = b === buttons[to] ? 0 : -1; });
            buttons[to].focus();
          }}, buttons);
        return [el("span", {id: lid, class: "ssw-label", text: q.text}), group, endsEl];
      }
      function choices(q, lid, i) {
        const multi = q.kind === "multi";
        const inputs = (q.choices || []).map(c => el("input", {type: multi ? "checkbox" : "radio", name: `ssw-${i}`,
          value: c, onchange: () => {
            const picked = inputs.filter(x => x.checked).map(x => x.value);
            update(q, multi ? picked : picked[0]);  // once touched, none ticked is an answer too: []
            clearTimeout(settle);
            settle = setTimeout(flush, SETTLE_MS);
          }}));
        const group = el("div", {role: multi ? "group" : "radiogroup", class: "ssw-choices", "aria-labelledby": lid,
          onfocusout: ev => { if (!group.contains(ev.relatedTarget)) flush(); },
          onkeydown: ev => { if (ev.key === "Enter" && ev.target.tagName === "INPUT") { ev.preventDefault(); ev.target.click(); } }},
        inputs.map(x => el("label", {class: "ssw-choice", "data-value": x.value}, [x, el("span", {text: x.value})])));
        return [el("span", {id: lid, class: "ssw-label", text: q.text}), group];
      }
      function text(q, lid, i) {
        const area = el("textarea", {id: `ssw-text-${i}`, "data-testid": `ssw-text-${q.id}`, maxlength: "2000",
          rows: "3", oninput: () => update(q, area.value.trim() ? area.value : undefined),
          onchange: flush});
        return [el("label", {id: lid, class: "ssw-label", for: area.id, text: q.text}), area];
      }

      const views = survey.questions.map((q, i) => {
        const lid = `ssw-q${i}`;
        const kids = q.kind === "scale" ? scale(q, lid) : q.kind === "text" ? text(q, lid, i) : choices(q, lid, i);
        return {q, box: el("div", {class: "ssw-q", "data-testid": `ssw-question-${q.id}`, "data-kind": q.kind}, kids)};
      });
      const card = el("div", {id: "ssw-card", class: "ssw-card", role: "dialog", "aria-modal": "false",
        "aria-labelledby": "ssw-q0", tabindex: "-1", "data-testid": "ssw-card", "data-survey-id": survey.id,
        "data-survey-type": survey.type, "data-display-id": d.id, lang: locale, dir,
        onkeydown: ev => { if (ev.key === "Escape") { ev.preventDefault(); d.ended ? hide() : end("closed"); } }},
      [el("div", {class: "ssw-questions", "aria-live": "polite"}, views.map(v => v.box)),
        el("div", {class: "ssw-actions"}, [submit]),
        el("button", {type: "button", class: "ssw-close", "aria-label": t.close, "data-testid": "ssw-close",
          text: "\u00d7", onclick: () => end("closed")})]);
      refresh();  // hide the follow-ups nothing asks for yet
      doc.body.appendChild(card);
      const first = Array.from(card.querySelectorAll("button, textarea, input"))
        .find(e => e.tabIndex >= 0 && !e.closest("[hidden]"));
      (first || card).focus({preventScroll: true});
      post(d, [{type: "shown"}]);
      call("onDisplay", info());
    }

    const start = () => poll();
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start); else start();
    return {
      stop() { stopped = true; clearTimeout(timer); },
      refresh() { stopped = false; return poll(); },
      close() { const c = doc.querySelector("#ssw-card .ssw-close"); if (c && cur) c.click(); },
      get displayed() { return cur ? {survey: cur.survey, displayId: cur.id} : null; },
    };
  }

  const logic = {category, matches, holds, walk, next, dirFor, query, labelsFor, CATEGORY_BANDS};
  root.SurveyStreams = {init, logic, version: "1.1.0"};
})(typeof window !== "undefined" ? window : globalThis);
