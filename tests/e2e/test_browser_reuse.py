"""A reused Chromium (tests/support/browser.py) is as fresh as a new one for the next test.

The browser tests share their Chromium instances to save seconds per test; what one
test's pages left behind (cookies of any site, storage, history, extra windows, a
resized window) must not reach the next test, or a signed-in session would leak
from one person to another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import browser

PAGE = b"""<!doctype html><html><head><meta name="viewport" content="width=device-width">
<title>t</title></head><body><h1>t</h1><script>
window.earlier = localStorage.getItem("seen");
localStorage.setItem("seen", "yes"); sessionStorage.setItem("seen", "yes");
</script></body></html>"""


class _Site(BaseHTTPRequestHandler):
    cookies_received: list[str | None] = []

    def do_GET(self) -> None:
        if self.path == "/page":
            type(self).cookies_received.append(self.headers.get("Cookie"))
        self.send_response(200)
        self.send_header("Set-Cookie", "session=secret-of-the-first-user; Path=/; HttpOnly")
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    browser.require()
    _Site.cookies_received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _open(mobile: bool) -> Any:
    return browser.chromium(375, 812, mobile=True) if mobile else browser.chromium()


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
def test_the_next_user_of_a_browser_finds_nothing_of_the_last(site: str, mobile: bool) -> None:
    with _open(mobile) as first:
        first.get(f"{site}/page")
        first.get(f"{site}/page")  # the cookie is sent back within one use
        first.switch_to.new_window("window")
        first.get(f"{site}/other")
        if not mobile:
            first.set_window_size(500, 400)
        used = first
    with _open(mobile) as second:
        assert second is used, "the browser was not reused: this test checks nothing"
        assert len(second.window_handles) == 1
        assert second.execute_script("return history.length") == 1
        second.get(f"{site}/page")
        assert second.execute_script("return window.earlier") is None  # no localStorage left
        assert second.execute_script("return sessionStorage.length") == 1  # its own write only
        width = second.execute_script("return window.innerWidth")
        assert width == (375 if mobile else 1280)
    assert _Site.cookies_received == [None, "session=secret-of-the-first-user", None]


def test_a_browser_a_test_failed_with_is_not_handed_out_again(site: str) -> None:
    with pytest.raises(RuntimeError), browser.chromium() as failed:
        failed.get(f"{site}/page")
        raise RuntimeError("the test failed")
    with browser.chromium() as next_one:
        assert next_one is not failed
        next_one.get(f"{site}/page")
    assert _Site.cookies_received == [None, None]
