/// The playground's script: models from /v1/models, requests to /v1/chat/completions or
/// /v1/completions with `confidence: true`, streamed output with time to first token and
/// tokens/s, low-confidence spans as <mark>s (their probability on hover), and the curl
/// command for the request. Model text only ever goes into the page as text nodes.
enum PlaygroundScript {
    static let js = #"""
    "use strict";
    const $ = (id) => document.getElementById(id);
    const KEY = "jeton.apiKey";
    let history = [];          // chat turns so far: {role, content}; exactly what the transcript shows
    let conversation = 0;      // bumped by Clear and a mode switch: a request of an older one adds nothing
    let controller = null;     // aborts the running request
    let lastSent = null;       // the request the curl box shows once sent
    let retry = null;          // the one pending loadModels retry
    let listing = 0;           // the latest model listing: an older one's answer is ignored

    function setState(s) { document.body.dataset.state = s; }
    function status(t) { $("status").textContent = t; }
    function mode() { return $("mode-chat").checked ? "chat" : "completion"; }
    function apiKey() { return sessionStorage.getItem(KEY) || ""; }
    function headers() {
      const h = { "Content-Type": "application/json" };
      if (apiKey()) h["Authorization"] = "Bearer " + apiKey();
      return h;
    }

    function loadLater(ms) { clearTimeout(retry); retry = setTimeout(loadModels, ms); }

    async function loadModels() {
      clearTimeout(retry);
      const me = ++listing;
      let r;
      try { r = await fetch("/v1/models", { headers: headers() }); }
      catch (e) { if (me === listing) { status("server unreachable"); loadLater(2000); } return; }
      if (me !== listing) return;  // a newer listing (another key) is on its way
      if (r.status === 401) {
        $("key-box").hidden = false;
        $("model").textContent = "";  // the models another key listed are not this one's
        status(apiKey() ? "that API key was refused" : "this server needs an API key");
        return;
      }
      if (r.status === 503) { status("model loading…"); loadLater(1000); return; }
      if (!r.ok) { status("cannot list models: HTTP " + r.status); return; }
      // Chat needs a generation model: embedding models served beside it are left out.
      const data = ((await r.json()).data || []).filter((m) => m.kind !== "embedding");
      if (me !== listing) return;
      const sel = $("model");
      const keep = sel.value;
      sel.textContent = "";
      for (const m of data) { const o = document.createElement("option"); o.value = o.textContent = m.id; sel.appendChild(o); }
      if (keep && data.some((m) => m.id === keep)) sel.value = keep;
      $("key-box").hidden = !apiKey();
      status(data.length ? "ready" : "no model");
      updateCurl();
    }

    function numberField(id) { const v = parseFloat($(id).value); return Number.isFinite(v) ? v : undefined; }

    /// The request the form describes: [path, body].
    function buildRequest() {
      const body = { model: $("model").value || "default" };
      const prompt = $("prompt").value;
      if (mode() === "chat") {
        const msgs = [];
        if ($("system").value.trim()) msgs.push({ role: "system", content: $("system").value });
        body.messages = msgs.concat(history, [{ role: "user", content: prompt }]);
      } else {
        body.prompt = prompt;
      }
      for (const f of ["temperature", "top_p", "max_tokens"]) { const v = numberField(f); if (v !== undefined) body[f] = v; }
      if ($("stream").checked) { body.stream = true; body.stream_options = { include_usage: true }; }
      if ($("confidence").checked) body.confidence = true;
      return [mode() === "chat" ? "/v1/chat/completions" : "/v1/completions", body];
    }

    function shellQuote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }
    function curlFor(path, body) {
      let c = "curl -sS" + (body.stream ? " -N" : "") + " " + location.origin + path + " \\\n  -H 'Content-Type: application/json'";
      // The key itself stays out of the command (it is easy to paste somewhere public).
      if (apiKey()) c += " \\\n  -H \"Authorization: Bearer $JETON_API_KEY\"";
      return c + " \\\n  -d " + shellQuote(JSON.stringify(body));
    }
    function updateCurl() {
      if (lastSent) return;
      const [path, body] = buildRequest();
      $("curl").textContent = curlFor(path, body);
    }

    /// A message block in the transcript; returns its text element.
    function addMessage(who, cls) {
      const m = document.createElement("div");
      m.className = "msg " + cls;
      const w = document.createElement("div"); w.className = "who"; w.textContent = who;
      const t = document.createElement("div"); t.className = "text";
      const s = document.createElement("div"); s.className = "summary";
      m.append(w, t, s);
      $("out").appendChild(m);
      $("out").scrollTop = $("out").scrollHeight;  // a new message is always brought into view
      return m;
    }

    /// Runs `update` and keeps the transcript scrolled to its end if it was there: a streamed answer
    /// stays in view unless the reader scrolled up to read something else.
    function following(update) {
      const o = $("out"), atEnd = o.scrollHeight - o.scrollTop - o.clientHeight < 40;
      update();
      if (atEnd) o.scrollTop = o.scrollHeight;
    }

    /// Fills `el` with `text`, the spans' ranges (UTF-16 offsets, as JavaScript indexes) marked.
    function renderText(el, text, spans) {
      el.textContent = "";
      let at = 0;
      const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
      for (const s of sorted) {
        let a = Math.max(s.start, at), b = Math.min(s.end, text.length);
        // Tokens carry their leading space: the mark covers the words, not the gaps around them.
        while (a < b && /\s/.test(text[a])) a++;
        while (b > a && /\s/.test(text[b - 1])) b--;
        if (b <= a) continue;
        if (a > at) el.appendChild(document.createTextNode(text.slice(at, a)));
        const m = document.createElement("mark");
        m.className = "low";
        m.dataset.p = s.mean_probability;
        m.title = "p = " + s.mean_probability.toFixed(3) + (s.tokens > 1 ? " (mean of " + s.tokens + " tokens, min " + s.min_probability.toFixed(3) + ")" : "");
        m.textContent = text.slice(a, b);
        el.appendChild(m);
        at = b;
      }
      if (at < text.length) el.appendChild(document.createTextNode(text.slice(at)));
    }

    function fmt(x, d) { return x === null || x === undefined ? "–" : x.toFixed(d); }

    async function send() {
      if (controller) return;
      const [path, body] = buildRequest();
      if (mode() === "chat" && !body.messages[body.messages.length - 1].content.trim()) { $("prompt").focus(); return; }
      lastSent = { path, body };
      $("curl").textContent = curlFor(path, body);
      let asked;
      if (mode() === "chat") {
        asked = addMessage("user", "user"); asked.querySelector(".text").textContent = $("prompt").value;
      } else {
        asked = addMessage("prompt", "prompt"); asked.querySelector(".text").textContent = body.prompt;
      }
      const msg = addMessage(mode() === "chat" ? "assistant" : "completion", "answer");
      const mine = conversation;
      const textEl = msg.querySelector(".text"), sumEl = msg.querySelector(".summary");
      const userText = $("prompt").value;
      $("prompt").value = "";
      controller = new AbortController();
      $("send").disabled = true; $("stop").disabled = false;
      setState("running");
      status("generating…");
      const t0 = performance.now();
      let first = null, last = null, chunks = 0, text = "", spans = [], summary = null, usage = null, finish = null;
      const chat = mode() === "chat";
      const onChoice = (c) => {
        const piece = chat ? (c.delta && c.delta.content) || (c.message && c.message.content) || "" : c.text || "";
        if (piece) { if (first === null) first = performance.now(); last = performance.now(); chunks++; text += piece; }
        if (c.confidence) {
          spans = spans.concat(c.confidence.low_confidence_spans || []);
          if ("mean_logprob" in c.confidence) summary = c.confidence;
        }
        if (c.finish_reason) finish = c.finish_reason;
      };
      const showStats = () => {
        const n = usage ? usage.completion_tokens : chunks;
        const ttft = first === null ? null : first - t0;
        const secs = first !== null && last > first ? (last - first) / 1000 : null;
        const rate = secs && n > 1 ? (n - 1) / secs : null;
        $("stats").textContent = "TTFT " + (ttft === null ? "–" : Math.round(ttft) + " ms") + " · " +
          (rate === null ? "–" : rate.toFixed(1)) + " tokens/s · " + n + " tokens";
      };
      try {
        const r = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
        if (!r.ok) {
          let m = "HTTP " + r.status;
          try { const e = await r.json(); if (e.error) m += ": " + e.error.message; } catch (_) {}
          if (r.status === 401) $("key-box").hidden = false;
          throw new Error(m);
        }
        if (body.stream) {
          const reader = r.body.getReader(), dec = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            let i;
            while ((i = buf.indexOf("\n\n")) >= 0) {
              const ev = buf.slice(0, i); buf = buf.slice(i + 2);
              if (!ev.startsWith("data: ")) continue;
              const data = ev.slice(6);
              if (data === "[DONE]") continue;
              const j = JSON.parse(data);
              if (j.error) throw new Error(j.error.message);
              if (j.usage) usage = j.usage;
              for (const c of j.choices || []) if (c.index === 0) onChoice(c);
            }
            following(() => renderText(textEl, text, spans));
            showStats();
          }
        } else {
          const j = await r.json();
          usage = j.usage;
          for (const c of j.choices || []) if (c.index === 0) onChoice(c);
          first = first === null ? performance.now() : first;
        }
        following(() => {
          renderText(textEl, text, spans);
          if (!summary) return;
          sumEl.textContent = "mean logprob " + fmt(summary.mean_logprob, 3) + " · min " + fmt(summary.min_logprob, 2) +
            " · mean entropy " + fmt(summary.mean_entropy, 2) + " nats · " +
            (summary.low_confidence_ratio === null ? "–" : Math.round(100 * summary.low_confidence_ratio) + "%") +
            " of tokens under p " + summary.threshold + " · " + spans.length + " span" + (spans.length === 1 ? "" : "s");
        });
        showStats();
        if (chat && mine === conversation) history.push({ role: "user", content: userText }, { role: "assistant", content: text });
        status(finish === "length" ? "stopped at max_tokens" : "done");
        setState("done");
      } catch (e) {
        if (mine !== conversation) {
          // Cleared (or the mode switched) while it ran: it belongs to nothing any more.
        } else if (e.name === "AbortError" && text) {
          // Stopped: the part shown is the answer the next turn builds on.
          if (chat) history.push({ role: "user", content: userText }, { role: "assistant", content: text });
          status("stopped"); setState("done");
        } else {
          // No answer to build on (an error, even after some text, or a stop before any): the turn
          // stays on screen, marked as outside the conversation, and its text goes back into the box.
          asked.classList.add("aside"); msg.classList.add("aside");
          if (e.name === "AbortError") { textEl.textContent = "(stopped before any text)"; status("stopped"); setState("done"); }
          else { msg.classList.add("error"); textEl.textContent = text + (text ? "\n" : "") + String(e.message || e); status("error"); setState("error"); }
          if (!$("prompt").value) { $("prompt").value = userText; edited(); }
        }
      } finally {
        controller = null;
        $("send").disabled = false; $("stop").disabled = true;
      }
    }

    function pairUp(id) {
      const range = $(id + "-range"), num = $(id);
      range.addEventListener("input", () => { num.value = range.value; edited(); });
      num.addEventListener("input", () => { range.value = num.value; edited(); });
    }
    function edited() { lastSent = null; updateCurl(); }
    function syncMode() { $("system-box").hidden = mode() !== "chat"; $("prompt").placeholder = mode() === "chat" ? "Ask something… (Ctrl+Enter sends)" : "Text to continue… (Ctrl+Enter sends)"; edited(); }

    pairUp("temperature"); pairUp("top_p");
    for (const id of ["model", "system", "max_tokens", "stream", "confidence", "prompt"]) {
      $(id).addEventListener("input", edited);
      $(id).addEventListener("change", edited);
    }
    /// A new conversation: the running request is stopped and adds nothing, the transcript empties.
    function startOver() {
      conversation++;
      if (controller) { controller.abort(); status("stopped"); setState("idle"); }
      history = []; $("out").textContent = ""; $("stats").textContent = "";
    }
    $("mode-chat").addEventListener("change", () => { startOver(); syncMode(); });
    $("mode-completion").addEventListener("change", () => { startOver(); syncMode(); });
    $("send").addEventListener("click", send);
    $("stop").addEventListener("click", () => controller && controller.abort());
    $("clear").addEventListener("click", () => { startOver(); edited(); });
    $("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); } });
    $("copy").addEventListener("click", async () => {
      const t = $("curl").textContent;
      try { await navigator.clipboard.writeText(t); }
      catch (_) { const r = document.createRange(); r.selectNodeContents($("curl")); const s = getSelection(); s.removeAllRanges(); s.addRange(r); document.execCommand("copy"); }
      $("copy").textContent = "Copied"; setTimeout(() => { $("copy").textContent = "Copy"; }, 1200);
    });
    $("key-save").addEventListener("click", () => {
      const key = $("key").value.trim();
      // A header carries printable ASCII only: the browser would refuse any other key on every request.
      if (!/^[\x20-\x7e]+$/.test(key)) { status(key ? "an API key has printable ASCII characters only" : "enter a key first"); return; }
      sessionStorage.setItem(KEY, key); $("key").value = ""; edited(); loadModels();
    });
    $("key-forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); edited(); loadModels(); });
    syncMode();
    loadModels();
    """#
}
