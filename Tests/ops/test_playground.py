"""The playground page at /: served by the server itself, self-contained, public while the API
needs a key, and gone (404) with server.playground: false. The browser test is in Tests/api."""
import re

from jeton_process import JetonProcess

KEY = "team:sk-playground-test"


def test_page_is_self_contained_and_public_when_keys_are_set():
    s = JetonProcess("--model", "default", "--cache-tokens", "2048", env={"JETON_AUTH_API_KEYS": KEY})
    try:
        status, headers, html = s.request("GET", "/")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        # No external address: no scheme-qualified URL at all, and nothing fetched from elsewhere.
        assert not re.search(r"https?://", html), re.search(r".{40}https?://.{40}", html)
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:)", html)
        assert "sessionStorage" in html and "/v1/models" in html
        # The API itself still wants the key.
        assert s.request("GET", "/v1/models")[0] == 401
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-playground-test"})[0] == 200
        assert s.request("HEAD", "/")[0] == 200
    finally:
        s.stop()


def test_playground_off_is_404():
    s = JetonProcess("--model", "default", "--cache-tokens", "2048", env={"JETON_SERVER_PLAYGROUND": "false"})
    try:
        status, _, body = s.request("GET", "/")
        assert status == 404, body
        assert s.request("GET", "/health")[0] == 200
    finally:
        s.stop()
