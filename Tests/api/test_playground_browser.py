"""The playground at / in a real browser (Debian's headless Chromium over the DevTools protocol):
it loads with no request leaving the machine, a chat answer streams into it with low-confidence
spans highlighted, and the curl command it shows reproduces the request. Saves a screenshot
(.build/playground.png; also to $JETON_PLAYGROUND_SCREENSHOT when set, e.g. docs/playground.png)."""
import asyncio
import json
import os
import shutil
import subprocess

import pytest

from cdp import Browser, Page, chromium_path
from conftest import ROOT, parse_sse

QUESTION = "Tell me a short story about a fox."


def js_set(id_, value):
    """Sets a form field as typing would: its value, then the input and change events."""
    return (f"(() => {{ const e = document.getElementById({json.dumps(id_)}); e.value = {json.dumps(value)};"
            " e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); })()")


def requests_of(page):
    return [e["params"] for e in page.events if e["method"] == "Network.requestWillBeSent"]


async def drive(server, shot_paths):
    browser = Browser()
    page = None
    try:
        page = await Page.connect(browser.ws_url)
        await page.call("Network.enable")
        await page.call("Page.enable")
        # The watch can fail: a request to another address shows up in it (and goes nowhere).
        await page.eval("fetch('http://198.51.100.7/probe').catch(() => 0)")
        assert any(r["request"]["url"].startswith("http://198.51.100.7/") for r in requests_of(page)), \
            "the network watch did not see a request to another host"
        page.events.clear()

        await page.call("Page.navigate", url=server.base + "/")
        await page.wait_for("document.readyState === 'complete' && !!document.getElementById('model')"
                            " && document.getElementById('model').options.length > 0")
        assert await page.eval("document.title") == "Jeton playground"
        # Every render of the answer's text, so the test sees it grow while the stream arrives.
        await page.eval("""window.__lengths = [];
            new MutationObserver(() => { const a = document.querySelectorAll('#out .answer .text');
              if (a.length) window.__lengths.push(a[a.length - 1].textContent.length); })
            .observe(document.getElementById('out'), {subtree: true, childList: true, characterData: true}); 0""")
        await page.eval("document.getElementById('mode-chat').click(); 0")
        for id_, value in [("temperature", "0"), ("max_tokens", "48"), ("system", ""), ("prompt", QUESTION)]:
            await page.eval(js_set(id_, value))
        assert await page.eval("document.getElementById('stream').checked && document.getElementById('confidence').checked")
        await page.eval("document.getElementById('send').click(); 0")
        await page.wait_for("document.body.dataset.state === 'done' || document.body.dataset.state === 'error'")
        assert await page.eval("document.body.dataset.state") == "done", await page.eval("document.getElementById('out').innerText")

        answer = await page.eval("[...document.querySelectorAll('#out .answer .text')].pop().textContent")
        assert answer.strip()
        lengths = await page.eval("window.__lengths")
        assert len({n for n in lengths if 0 < n < len(answer)}) >= 1, f"the answer appeared at once: {lengths}"
        stats = await page.eval("document.getElementById('stats').textContent")
        assert "TTFT" in stats and "tokens/s" in stats, stats
        marks = await page.eval("[...document.querySelectorAll('#out .answer mark.low')]"
                                ".map(m => ({text: m.textContent, title: m.title, p: parseFloat(m.dataset.p)}))")
        assert marks, "no low-confidence span was highlighted"
        for m in marks:
            assert m["title"].startswith("p = ") and 0 <= m["p"] < 0.3, m
            assert m["text"] and m["text"] in answer
        summary = await page.eval("[...document.querySelectorAll('#out .answer .summary')].pop().textContent")
        assert "mean logprob" in summary, summary

        # The request the page sent: to this server, streamed, with confidence.
        chats = [r for r in requests_of(page) if r["request"]["url"].endswith("/v1/chat/completions")]
        assert len(chats) == 1
        sent = json.loads(chats[0]["request"]["postData"])
        assert sent["stream"] is True and sent["confidence"] is True and sent["temperature"] == 0
        assert sent["messages"] == [{"role": "user", "content": QUESTION}]
        rid = chats[0]["requestId"]
        mime = [e["params"]["response"]["mimeType"] for e in page.events
                if e["method"] == "Network.responseReceived" and e["params"]["requestId"] == rid]
        assert mime == ["text/event-stream"], mime

        # Nothing left the machine: every request went to this server (or was inline data).
        for r in requests_of(page):
            url = r["request"]["url"]
            assert url.startswith(server.base + "/") or url.startswith("data:"), f"request off the machine: {url}"
        failed = [e["params"] for e in page.events if e["method"] == "Network.loadingFailed"]
        assert not failed, failed

        curl = await page.eval("document.getElementById('curl').textContent")
        for p in shot_paths:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            await page.screenshot(p)
        return curl, sent, answer, marks
    finally:
        if page:
            await page.close()
        browser.close()


def test_playground_in_chromium(server):
    if not chromium_path():
        pytest.fail("chromium is missing: scripts/setup.sh --test installs it")
    shots = [os.path.join(ROOT, ".build", "playground.png")]
    if os.environ.get("JETON_PLAYGROUND_SCREENSHOT"):
        shots.append(os.path.abspath(os.environ["JETON_PLAYGROUND_SCREENSHOT"]))
    curl, sent, answer, marks = asyncio.run(drive(server, shots))

    # The curl command, run as shown, sends the same request and gets the same answer and spans.
    assert curl.startswith("curl ") and server.base + "/v1/chat/completions" in curl, curl
    assert shutil.which("curl")
    out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    events = parse_sse(out.stdout)
    content, spans = "", []
    for e in events[:-1]:
        for c in e.get("choices", []):
            content += c["delta"].get("content") or ""
            spans += (c.get("confidence") or {}).get("low_confidence_spans", [])
    assert content == answer
    # The page marks each span's words (without the whitespace around them).
    assert [s["text"].strip() for s in spans if s["text"].strip()] == [m["text"] for m in marks]
    body = curl.split(" -d ", 1)[1]
    assert json.loads(subprocess.run(["bash", "-c", f"printf %s {body}"], capture_output=True, text=True).stdout) == sent


async def conversation_checks(server):
    """What the page sends is what it shows: Clear and a mode switch start over (even mid-answer), a
    stopped answer stays part of the conversation, an answer that never came does not; the system
    prompt box is hidden in completion mode; the transcript follows a long answer; a key the
    browser cannot send is refused with a message."""
    browser = Browser()
    page = None
    try:
        page = await Page.connect(browser.ws_url)
        await page.call("Network.enable")
        await page.call("Page.navigate", url=server.base + "/")
        await page.wait_for("document.readyState === 'complete' && !!document.getElementById('model')"
                            " && document.getElementById('model').options.length > 0")
        shown = "getComputedStyle(document.getElementById('system-box')).display"
        await page.eval("document.getElementById('mode-completion').click(); 0")
        assert await page.eval(shown) == "none", "the system prompt box shows in completion mode"
        await page.eval("document.getElementById('mode-chat').click(); 0")
        assert await page.eval(shown) != "none"

        def sent_messages():
            chats = [r for r in requests_of(page) if r["request"]["url"].endswith("/v1/chat/completions")]
            return json.loads(chats[-1]["request"]["postData"])["messages"]

        async def ask(text, max_tokens, stop_after_text=False, clear_after_text=False):
            for id_, value in [("temperature", "0"), ("max_tokens", str(max_tokens)), ("prompt", text)]:
                await page.eval(js_set(id_, value))
            await page.eval("document.getElementById('send').click(); 0")
            if stop_after_text or clear_after_text:
                await page.wait_for("(() => { const a = [...document.querySelectorAll('#out .answer .text')].pop();"
                                    " return a && a.textContent.length > 20; })()")
                await page.eval(f"document.getElementById('{'stop' if stop_after_text else 'clear'}').click(); 0")
            await page.wait_for("document.getElementById('send').disabled === false")

        # Clear in the middle of an answer: the next request starts a new conversation.
        await ask("First secret: my name is Bob. Tell me a long story.", 300, clear_after_text=True)
        assert await page.eval("document.body.dataset.state") == "idle", "the page still says it is generating"
        await ask("New conversation", 8)
        assert sent_messages() == [{"role": "user", "content": "New conversation"}]
        # A stopped answer is part of what the next turn builds on, as shown.
        await page.eval("document.getElementById('clear').click(); 0")
        await ask("Tell me a long story about a cat.", 300, stop_after_text=True)
        partial = await page.eval("[...document.querySelectorAll('#out .answer .text')].pop().textContent")
        await ask("And then?", 8)
        assert sent_messages() == [{"role": "user", "content": "Tell me a long story about a cat."},
                                   {"role": "assistant", "content": partial},
                                   {"role": "user", "content": "And then?"}]
        # An answer that failed is marked outside the conversation and its text is back in the box.
        await page.eval(js_set("max_tokens", "0"))
        await page.eval(js_set("prompt", "This one fails"))
        await page.eval("document.getElementById('send').click(); 0")
        await page.wait_for("document.body.dataset.state === 'error'")
        assert await page.eval("document.querySelectorAll('#out .msg.aside').length") == 2
        assert await page.eval("document.getElementById('prompt').value") == "This one fails"
        await ask("Last", 8)
        assert [m["content"] for m in sent_messages()] == ["Tell me a long story about a cat.", partial, "And then?",
                                                           sent_messages()[3]["content"], "Last"]
        assert "This one fails" not in json.dumps(sent_messages())
        # Switching modes starts over too.
        await page.eval("document.getElementById('mode-completion').click(); 0")
        await page.eval("document.getElementById('mode-chat').click(); 0")
        assert await page.eval("document.getElementById('out').children.length") == 0
        await ask("Fresh", 8)
        assert sent_messages() == [{"role": "user", "content": "Fresh"}]
        # A long answer: the transcript ends in view.
        await ask("Write a very long list of fruits, one per line.", 400)
        end_gap = await page.eval("(() => { const o = document.getElementById('out');"
                                  " return o.scrollHeight - o.scrollTop - o.clientHeight; })()")
        overflow = await page.eval("(() => { const o = document.getElementById('out'); return o.scrollHeight - o.clientHeight; })()")
        assert overflow > 0, "the answer did not overflow the pane: the check says nothing"
        assert end_gap < 5, end_gap
        # A key with a character no header can carry is refused at once, with a message.
        await page.eval("document.getElementById('key-box').hidden = false; 0")
        await page.eval(js_set("key", "sekret\u20ac"))
        await page.eval("document.getElementById('key-save').click(); 0")
        assert "ASCII" in await page.eval("document.getElementById('status').textContent")
        assert await page.eval("sessionStorage.getItem('jeton.apiKey')") is None
    finally:
        if page:
            await page.close()
        browser.close()


def test_playground_sends_what_it_shows(server):
    if not chromium_path():
        pytest.fail("chromium is missing: scripts/setup.sh --test installs it")
    asyncio.run(conversation_checks(server))
