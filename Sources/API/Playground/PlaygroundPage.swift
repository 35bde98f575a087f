import HTTP

/// The playground at `/`: one self-contained page (inline CSS and script, system fonts, no
/// external address anywhere) that calls this server's own API from the browser. It holds
/// no secret: the API key, when the server wants one, is typed in and kept in the tab's
/// sessionStorage. The Content-Security-Policy lets the page talk to its own origin only,
/// so even a mistake in it cannot load or send anything elsewhere.
public enum PlaygroundPage {
    public static var response: HTTPResponse {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "text/html; charset=utf-8")
        h.add(name: "Content-Security-Policy", value: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            + "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        h.add(name: "X-Content-Type-Options", value: "nosniff")
        h.add(name: "Referrer-Policy", value: "no-referrer")
        h.add(name: "Cache-Control", value: "no-cache")
        return HTTPResponse(status: .ok, headers: h, body: Array(html.utf8))
    }

    static var html: String {
        head + "<style>" + PlaygroundStyle.css + "</style></head>" + body + "<script>" + PlaygroundScript.js + "</script></body></html>\n"
    }

    private static let head = #"""
    <!doctype html>
    <html lang="en"><head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Jeton playground</title>
    <link rel="icon" href="data:,">
    """#

    private static let body = #"""
    <body data-state="idle">
    <header>
      <h1>Jeton <span>playground</span></h1>
      <label>Model <select id="model"></select></label>
      <span id="status" role="status"></span>
    </header>
    <div id="key-box" hidden>
      <label>API key <input id="key" type="password" autocomplete="off" placeholder="sk-..."></label>
      <button id="key-save">Use key</button>
      <button id="key-forget" class="quiet">Forget</button>
      <small>Kept in this tab only (sessionStorage); sent as <code>Authorization: Bearer</code> to this server.</small>
    </div>
    <main>
      <aside>
        <fieldset class="modes">
          <label><input type="radio" name="mode" id="mode-chat" value="chat" checked> Chat</label>
          <label><input type="radio" name="mode" id="mode-completion" value="completion"> Completion</label>
        </fieldset>
        <label id="system-box">System prompt <textarea id="system" rows="3" placeholder="You are a helpful assistant."></textarea></label>
        <label>Temperature <span class="pair"><input id="temperature-range" type="range" min="0" max="2" step="0.05" value="0.7"><input id="temperature" type="number" min="0" max="2" step="0.05" value="0.7"></span></label>
        <label>top_p <span class="pair"><input id="top_p-range" type="range" min="0.01" max="1" step="0.01" value="1"><input id="top_p" type="number" min="0.01" max="1" step="0.01" value="1"></span></label>
        <label>max_tokens <input id="max_tokens" type="number" min="1" max="32768" step="1" value="256"></label>
        <label class="check"><input id="stream" type="checkbox" checked> Stream</label>
        <label class="check"><input id="confidence" type="checkbox" checked> Highlight low confidence</label>
        <p class="legend"><mark class="low">like this</mark> tokens the model gave a probability under the
          threshold; hover for it. Low probability is doubt, not error: confidence is not truth.</p>
      </aside>
      <section>
        <div id="out" aria-live="polite"></div>
        <textarea id="prompt" rows="3" placeholder="Ask something… (Ctrl+Enter sends)"></textarea>
        <div class="actions">
          <button id="send">Send</button>
          <button id="stop" class="quiet" disabled>Stop</button>
          <button id="clear" class="quiet">Clear</button>
          <span id="stats"></span>
        </div>
        <div class="curl">
          <div class="curl-head"><span>curl for this request</span><button id="copy" class="quiet">Copy</button></div>
          <pre id="curl"></pre>
        </div>
      </section>
    </main>
    """#
}
