/*! survey-streams reference widget. Plain ES2017, no dependencies.
 * SurveyStreams.init({host, widgetKey, userId, userHash, pollSeconds,
 *                     onDisplay, onAnswer, onComplete, onDismiss, onError})
 * Polls GET {host}/v1/eligibility/{userId}; when eligible shows the survey in a card and
 * posts shown / answered / submitted / closed to POST {host}/v1/widget/events. */
(function (root) {
  "use strict";
  const doc = root.document;
  const me = doc.currentScript;
  const scriptHost = me && me.src ? new URL(me.src, root.location.href).origin : "";
  const ENDS = {nps: ["Not at all likely", "Extremely likely"], csat: ["Very unsatisfied", "Very satisfied"],
    ces: ["Very difficult", "Very easy"]};
  const CSS = `
.ssw-card{--ssw-accent:#4f46e5;position:fixed;right:16px;bottom:16px;z-index:2147483000;box-sizing:border-box;
width:min(400px,calc(100vw - 32px));max-height:calc(100vh - 32px);overflow:auto;padding:20px 20px 16px;
background:#fff;color:#1f2937;border:1px solid #e5e7eb;border-radius:12px;box-shadow:0 10px 30px rgba(0,0,0,.18);
font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;animation:ssw-in .2s ease-out}
.ssw-card *{box-sizing:border-box;font:inherit}
.ssw-card:focus{outline:none}
.ssw-q{margin:0 0 14px}
.ssw-label{display:block;margin:0 24px 8px 0;font-weight:600}
.ssw-scale{display:flex;gap:4px}
.ssw-scale .ssw-option{flex:1 1 0;min-width:0;padding:8px 0}
.ssw-choices{display:flex;flex-direction:column;gap:6px}
.ssw-choices .ssw-option{padding:8px 10px;text-align:left}
.ssw-option{cursor:pointer;background:#fff;color:inherit;border:1px solid #d1d5db;border-radius:6px}
.ssw-option:hover{border-color:var(--ssw-accent);background:#eef2ff}
.ssw-option[aria-pressed=true]{background:var(--ssw-accent);border-color:var(--ssw-accent);color:#fff}
.ssw-ends{display:flex;justify-content:space-between;margin-top:4px;font-size:12px;color:#6b7280}
.ssw-card textarea{display:block;width:100%;min-height:64px;padding:8px;resize:vertical;border:1px solid #d1d5db;border-radius:6px}
.ssw-actions{display:flex;justify-content:flex-end}
.ssw-submit{cursor:pointer;padding:8px 18px;border:0;border-radius:6px;background:var(--ssw-accent);color:#fff;font-weight:600}
.ssw-submit:disabled{cursor:default;opacity:.45}
.ssw-close{position:absolute;top:8px;right:8px;width:28px;height:28px;padding:0;cursor:pointer;border:0;border-radius:6px;
background:transparent;color:#6b7280;font-size:20px;line-height:1}
.ssw-close:hover{background:#f3f4f6;color:#111827}
.ssw-card button:focus-visible,.ssw-card textarea:focus-visible{outline:2px solid var(--ssw-accent);outline-offset:2px}
.ssw-thanks{margin:8px 0;font-weight:600;text-align:center}
@keyframes ssw-in{from{opacity:0;transform:translateY(8px)}}
@media (prefers-reduced-motion:reduce){.ssw-card{animation:none}}`;

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
          const q = o.userHash ? `?userHash=${encodeURIComponent(o.userHash)}` : "";
          const r = await fetch(`${host}/v1/eligibility/${encodeURIComponent(userId)}${q}`,
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

    // Events leave one request at a time, in order, so the bridge sees them as they happened.
    function post(display, events) {
      const body = events.map(e => Object.assign({messageId: uuid(), userId, surveyId: display.survey.id,
        displayId: display.id, displayToken: display.token}, o.userHash ? {userHash: o.userHash} : {}, e));
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
      const d = cur = {survey, id: display.id, token: display.token, answers: {}, sent: {}, back: doc.activeElement};
      if (!doc.getElementById("ssw-style")) doc.head.appendChild(el("style", {id: "ssw-style", text: CSS}));
      const info = () => ({survey, displayId: d.id, answers: Object.assign({}, d.answers)});
      const required = survey.questions.filter(q => q.kind !== "text");
      const texts = [];
      const submit = el("button", {type: "button", class: "ssw-submit", "data-testid": "ssw-submit", disabled: "",
        text: "Submit", onclick: () => end("submitted")});

      function answer(q, value) {
        d.answers[q.id] = value;
        post(d, [{type: "answered", questionId: q.id, value}]);
        call("onAnswer", Object.assign(info(), {questionId: q.id, value}));
        submit.disabled = !required.every(r => r.id in d.answers);
      }
      function pendingTexts() {  // typed text not yet posted becomes an answer
        return texts.filter(([q, t]) => t.value.trim() && t.value !== d.sent[q.id]).map(([q, t]) => {
          d.sent[q.id] = d.answers[q.id] = t.value;
          call("onAnswer", Object.assign(info(), {questionId: q.id, value: t.value}));
          return {type: "answered", questionId: q.id, value: t.value};
        });
      }
      function end(type) {
        if (cur !== d || d.ended) return;
        d.ended = true;
        post(d, pendingTexts().concat([{type}]));
        done.add(survey.id);
        const answered = Object.keys(d.answers).length > 0;
        call(answered ? "onComplete" : "onDismiss", info());
        if (type === "submitted") {
          card.textContent = "";
          card.appendChild(el("p", {class: "ssw-thanks", role: "status", "data-testid": "ssw-thanks",
            text: "Thank you for your feedback!"}));
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

      const parts = survey.questions.map((q, i) => {
        const lid = `ssw-q${i}`;
        const label = el(q.kind === "text" ? "label" : "span", {id: lid, class: "ssw-label", text: q.text});
        if (q.kind === "text") {
          const t = el("textarea", {id: `ssw-text-${i}`, "data-testid": `ssw-text-${q.id}`, maxlength: "2000",
            rows: "3", onchange: () => post(d, pendingTexts())});
          label.setAttribute("for", t.id);
          texts.push([q, t]);
          return el("div", {class: "ssw-q", "data-testid": `ssw-question-${q.id}`}, [label, t]);
        }
        const values = q.kind === "scale"
          ? Array.from({length: q.max - q.min + 1}, (_, k) => q.min + k) : (q.choices || []);
        const buttons = values.map(v => el("button", {type: "button", class: "ssw-option", "data-value": v,
          "aria-pressed": "false", "aria-label": q.kind === "scale" ? `${v} of ${q.max}` : null, text: String(v),
          onclick: ev => {
            buttons.forEach(b => b.setAttribute("aria-pressed", String(b === ev.currentTarget)));
            answer(q, v);
          }}));
        const ends = q.kind === "scale" && ENDS[survey.type];
        const endsEl = ends && el("div", {id: `${lid}-ends`, class: "ssw-ends"},
          [el("span", {text: ends[0]}), el("span", {text: ends[1]})]);
        const group = el("div", {role: "group", class: q.kind === "scale" ? "ssw-scale" : "ssw-choices",
          "aria-labelledby": lid, "aria-describedby": endsEl ? endsEl.id : null, onkeydown: ev => {
            const step = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1}[ev.key];
            const at = buttons.indexOf(doc.activeElement);
            if (step && at >= 0 && buttons[at + step]) { ev.preventDefault(); buttons[at + step].focus(); }
          }}, buttons);
        return el("div", {class: "ssw-q", "data-testid": `ssw-question-${q.id}`}, [label, group, endsEl]);
      });

      const card = el("div", {id: "ssw-card", class: "ssw-card", role: "dialog", "aria-modal": "false",
        "aria-labelledby": "ssw-q0", tabindex: "-1", "data-testid": "ssw-card", "data-survey-id": survey.id,
        "data-survey-type": survey.type, "data-display-id": d.id,
        onkeydown: ev => { if (ev.key === "Escape") { ev.preventDefault(); d.ended ? hide() : end("closed"); } }},
      parts.concat([el("div", {class: "ssw-actions"}, [submit]),
        el("button", {type: "button", class: "ssw-close", "aria-label": "Close survey", "data-testid": "ssw-close",
          text: "\u00d7", onclick: () => end("closed")})]));
      doc.body.appendChild(card);
      const first = card.querySelector("button, textarea");
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

  root.SurveyStreams = {init, version: "1.0.0"};
})(window);
