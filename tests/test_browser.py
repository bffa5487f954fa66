"""Every page of the built book works offline in a real browser (DESIGN.md, "Book").

Builds the book (shared with tests/test_book.py: once per pytest process), then opens each
_toc.yml page over file:// in headless Chromium with the network blocked, and checks:

- no request leaves the machine (any http(s)/ws(s) request fails the test, blocked or not) and
  no local file fails to load (a missing vendored script, font or image);
- math is typeset: every Sphinx math element holds MathJax output, without TeX errors, and no
  raw `$$`, `\\[` or `\\(` is left in the visible text;
- every <img> loaded (naturalWidth > 0);
- every seglib.viz.static_slider changes its picture when a slider moves (arrow key), and every
  matplotlib to_jshtml animation shows another frame when its "Next frame" button is clicked;
- no JavaScript error (uncaught exception, console.error, browser error log) other than the
  documented ALLOWED_JS_ERRORS;
- everything fits the content column in a 1280-pixel-wide window (LAYOUT): no figure, table or
  code block sticks out of it or scrolls sideways, and no figure is shrunk below MIN_SCALE of
  its size, where its text would be too small to read.

Chromium is driven over the DevTools protocol through a pipe (--remote-debugging-pipe: NUL-
separated JSON on file descriptors 3 and 4), so the test needs no Python package beyond the
standard library. Skipped when no Chromium is found: set CHROMIUM to its path, or install it
(Debian: `apt-get install chromium`). SEGLIB_BOOK_SCREENSHOTS=<folder> also saves a full-page
PNG of every page there.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_book import build_book

pytestmark = pytest.mark.book

# Known, harmless JavaScript errors: (regular expression on the message, why it is harmless).
# Keep it short; every entry needs a reason.
ALLOWED_JS_ERRORS: list[tuple[str, str]] = []

# Requests that never leave the machine.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,900",
    # Belt and braces next to the per-request blocking below: no name resolves and every
    # connection goes to a closed local port.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]

TIMEOUT = 30.0  # seconds for one DevTools reply or one page to settle

# The smallest scale at which a figure may show. The notebooks' figures are drawn at 80 dpi
# (seglib.viz.use_book_style) with text of 8 to 10 points, 9 to 11 pixels; at 65% the titles
# are 7 pixels high, about the limit of legibility. In the 1280-pixel-wide window the column
# leaves 688 pixels to an output, so a figure up to 1058 pixels wide passes; draw it at most
# seglib.viz.BOOK_WIDTH inches (688 pixels) wide to show it at full size.
MIN_SCALE = 0.65


def find_chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"]) or os.environ["CHROMIUM"]
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    return None


_LAUNCHER = """
import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 10) for fd in sys.argv[1:3]]  # clear of 3 and 4
for fd in sys.argv[1:3]:
    os.close(int(fd))
os.dup2(ends[0], 3)  # inheritable
os.dup2(ends[1], 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: Path, log: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        # The browser reads commands on fd 3 and writes replies on fd 4: a small Python
        # launcher moves the pipe ends there and execs it.
        self._log = open(log, "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.on_event = None  # called with each event as it arrives

    def close(self) -> None:
        try:
            self.send("Browser.close", wait=False)
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from Chromium in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited (rc={self.proc.poll()})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        wait: bool = True,
        timeout: float = TIMEOUT,
    ) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        if not wait:
            return {}
        return self.wait_for(lambda m: m.get("id") == message["id"], timeout)

    def wait_for(self, match, timeout: float = TIMEOUT) -> dict:
        """Read messages (handling events) until one satisfies `match`; return it."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if "method" in message and self.on_event:
                self.on_event(message)
            if match(message):
                if "error" in message:
                    raise RuntimeError(f"DevTools error: {message['error']}")
                return message

    def pump(self, seconds: float) -> None:
        """Handle events for a while."""
        try:
            self.wait_for(lambda m: False, timeout=seconds)
        except TimeoutError:
            pass


class Page:
    """One page opened in its own tab, with every request and JavaScript error recorded."""

    def __init__(self, browser: DevTools, url: str):
        self.browser, self.url = browser, url
        self.requests: dict[str, str] = {}  # requestId -> URL
        self.remote: list[str] = []  # requests that would leave the machine
        self.failed: list[str] = []  # requests that did not load
        self.js_errors: list[str] = []
        self.loaded = False
        target = browser.send("Target.createTarget", {"url": "about:blank"})["result"]["targetId"]
        self.target = target
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["result"][
            "sessionId"
        ]
        browser.on_event = self._on_event
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.cdp(f"{domain}.enable")
        # Every http(s) request is paused here, recorded and failed (see _on_event).
        self.cdp("Fetch.enable", {"patterns": [{"urlPattern": "http://*"}, {"urlPattern": "https://*"}]})
        self.cdp("Network.setCacheDisabled", {"cacheDisabled": True})

    def cdp(self, method: str, params: dict | None = None, **kwargs) -> dict:
        return self.browser.send(method, params, session=self.session, **kwargs).get("result", {})

    def _on_event(self, event: dict) -> None:
        if event.get("sessionId") != self.session:
            return
        method, params = event["method"], event.get("params", {})
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Fetch.requestPaused":
            self.remote.append(params["request"]["url"])
            self.browser.send(
                "Fetch.failRequest",
                {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                session=self.session,
                wait=False,
            )
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            self.requests[params["requestId"]] = url
            if not url.startswith(LOCAL_SCHEMES):
                self.remote.append(url)
        elif method == "Network.webSocketCreated":
            self.remote.append(params["url"])
        elif method == "Network.loadingFailed":
            url = self.requests.get(params["requestId"], params["requestId"])
            self.failed.append(
                f"{url[:150]} ({params.get('errorText')}{', blocked' if params.get('blockedReason') else ''})"
            )
        elif method == "Network.responseReceived":
            status = params["response"].get("status", 0)
            if status >= 400:
                self.failed.append(f"{params['response']['url'][:150]} (HTTP {status})")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.js_errors.append(
                f"uncaught: {text.splitlines()[0] if text else text} "
                f"({details.get('url', '')}:{details.get('lineNumber', '?')})"
            )
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.js_errors.append(f"console.{params['type']}: {args[:300]}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.js_errors.append(
                f"log ({entry.get('source')}): {entry.get('text', '')[:300]} {entry.get('url', '')[:150]}"
            )

    def open(self) -> None:
        self.loaded = False
        reply = self.cdp("Page.navigate", {"url": self.url})
        assert not reply.get("errorText"), f"{self.url}: {reply['errorText']}"
        if not self.loaded:
            self.browser.wait_for(lambda m: self.loaded)
        # The page (not about:blank) has loaded; let MathJax finish its first typeset, the
        # widget manager render and images decode.
        self.evaluate(SETTLE.replace("__URL__", json.dumps(self.url)))
        self.browser.pump(0.2)  # late errors and requests

    def evaluate(self, expression: str):
        reply = self.cdp(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, timeout=TIMEOUT
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"{self.url}: test script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def click(self, selector: str, index: int) -> None:
        """A real mouse click in the middle of the element."""
        box = self.evaluate(f"""(() => {{
            const el = document.querySelectorAll({json.dumps(selector)})[{index}];
            el.scrollIntoView({{block: 'center'}});
            const r = el.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.cdp(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def press(self, selector: str, index: int, key: str, code: int) -> None:
        """Focus the element and press a key on it (as a user moving a slider with the keyboard)."""
        self.evaluate(f"document.querySelectorAll({json.dumps(selector)})[{index}].focus()")
        for kind in ("rawKeyDown", "keyUp"):
            self.cdp(
                "Input.dispatchKeyEvent",
                {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code},
            )

    def screenshot(self, path: Path) -> None:
        size = self.cdp("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1}
        data = self.cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})[
            "data"
        ]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.browser.on_event = None
        self.browser.send("Target.closeTarget", {"targetId": self.target})


# Widget views the embed manager has not (yet) replaced by a rendered widget: it inserts a
# div.widget-subarea before each view's <script> and renders the widget into it.
UNRENDERED_WIDGETS = """[...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
    .filter(s => !(s.previousElementSibling && s.previousElementSibling.matches('.widget-subarea')
                   && s.previousElementSibling.childElementCount > 0)).length"""

# Wait until this page (not about:blank) has loaded, MathJax has finished its first typeset,
# the widget manager has rendered every widget and the images have decoded (at most 20 s).
SETTLE = """(async () => {
    const deadline = Date.now() + 20000;
    const later = () => new Promise(r => setTimeout(r, 50));
    while ((location.href !== __URL__ || document.readyState !== 'complete') && Date.now() < deadline) await later();
    while (window.MathJax && !(MathJax.startup && MathJax.startup.promise) && Date.now() < deadline) await later();
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    while (window.require && __UNRENDERED__ > 0 && Date.now() < deadline) await later();
    await Promise.all([...document.images].map(img => { img.loading = 'eager'; return img.decode().catch(() => null); }));
    await document.fonts.ready;
})()""".replace("__UNRENDERED__", UNRENDERED_WIDGETS)

# What the page shows: math, images and raw TeX left in the visible text.
PAGE_STATE = r"""(() => {
    const maths = [...document.querySelectorAll('.math')];
    const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'TEXTAREA', 'MJX-CONTAINER', 'NOSCRIPT']);
    const raw = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(node) {
        for (let el = node.parentElement; el; el = el.parentElement) if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
        return NodeFilter.FILTER_ACCEPT;
    }});
    for (let node; (node = walker.nextNode());) {
        const m = node.textContent.match(/\$\$|\\\[|\\\(|\\begin\{/);
        if (m) raw.push(node.textContent.slice(Math.max(0, m.index - 40), m.index + 60).trim());
    }
    return {
        math: maths.length,
        mathjax: !!(window.MathJax && MathJax.startup && MathJax.version),
        untypeset: maths.filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 80)),
        texErrors: [...document.querySelectorAll('mjx-merror')].map(el => el.getAttribute('data-mjx-error') || el.textContent),
        raw: raw,
        images: [...document.images].map(img => ({src: img.currentSrc.slice(0, 120), ok: img.complete && img.naturalWidth > 0})),
        sliders: [...document.querySelectorAll('.seglib-slider input[type=range]')].map(i => i.max - i.min),
        animations: document.querySelectorAll('.animation button[title="Next frame"]').length,
        widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
        widgetsUnrendered: UNRENDERED,
    };
})()""".replace("UNRENDERED", UNRENDERED_WIDGETS)

# Layout in the content column (article.bd-article): figures shrunk below MIN_SCALE, and tables,
# figures, code and outputs that stick out of the column or scroll sideways inside it.
LAYOUT = r"""(minScale => {
    const article = document.querySelector('article.bd-article');
    if (!article) return {column: 0, problems: ['no article.bd-article on the page']};
    const column = article.getBoundingClientRect();
    const problems = [];
    const describe = el => {
        const cell = el.closest('.cell');
        const code = cell && cell.querySelector('.cell_input pre');
        const where = code ? `code cell "${code.textContent.trim().split('\n')[0].slice(0, 60)}"`
                           : `"${(el.textContent || el.getAttribute('alt') || '').trim().slice(0, 60)}"`;
        return `${el.tagName.toLowerCase()} in ${where}`;
    };
    for (const img of article.querySelectorAll('img')) {
        const box = img.getBoundingClientRect();
        if (!img.naturalWidth || box.width === 0) continue;  // not loaded (reported above) or hidden
        const scale = box.width / img.naturalWidth;
        if (img.naturalWidth >= 100 && scale < minScale)
            problems.push(`figure shrunk to ${Math.round(100 * scale)}% (${img.naturalWidth} px wide, shown at ` +
                          `${Math.round(box.width)} px): ${describe(img)}`);
    }
    for (const el of article.querySelectorAll('img, table, pre, .cell_output > *, .seglib-slider, .animation')) {
        const box = el.getBoundingClientRect();
        if (box.width && (box.right > column.right + 1 || box.left < column.left - 1))
            problems.push(`${describe(el)} sticks out of the column by `
                          + `${Math.round(Math.max(box.right - column.right, column.left - box.left))} px`);
    }
    for (const el of article.querySelectorAll('*')) {
        const overflow = getComputedStyle(el).overflowX;
        if ((overflow === 'auto' || overflow === 'scroll') && el.scrollWidth > el.clientWidth + 1)
            problems.push(`${describe(el)} scrolls sideways (${el.scrollWidth} px of content in ${el.clientWidth} px)`);
    }
    return {column: Math.round(column.width), problems: [...new Set(problems)]};
})"""

SLIDER = ".seglib-slider input[type=range]"
SLIDER_PICTURE = f"""(i => {{
    const img = document.querySelectorAll({json.dumps(SLIDER)})[i].closest('.seglib-slider').querySelector('img');
    return img.decode().then(() => [img.src, img.naturalWidth], () => [img.src, 0]);
}})"""
ANIMATION = '.animation button[title="Next frame"]'
ANIMATION_FRAME = f"""(i => {{
    const img = document.querySelectorAll({json.dumps(ANIMATION)})[i].closest('.animation').querySelector('img');
    return img.decode().then(() => [img.src, img.naturalWidth], () => [img.src, 0]);
}})"""


def _allowed(message: str) -> bool:
    return any(re.search(pattern, message) for pattern, _why in ALLOWED_JS_ERRORS)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if os.name == "nt":
        pytest.skip("the DevTools pipe needs a POSIX system")
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            f"no Chromium found ({', '.join(CHROMIUM_NAMES)} on PATH, or CHROMIUM=<path>); "
            "install it to check the built book in a browser (Debian: apt-get install chromium)"
        )
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"CHROMIUM={os.environ.get('CHROMIUM')!r} is not an executable file")
    if os.path.realpath(binary).startswith("/snap/"):
        pytest.skip(
            f"{binary} is a snap, which cannot read pytest's temporary folders; set CHROMIUM to "
            "a Chromium or Chrome that is not a snap"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    browser = DevTools(binary, profile, profile.parent / "chromium.log")
    try:
        browser.send("Browser.getVersion", timeout=60)
    except (OSError, RuntimeError, TimeoutError) as exc:  # a broken installation should say so, not hang
        browser.close()
        pytest.fail(f"could not start {binary}: {exc}; see {profile.parent / 'chromium.log'}")
    yield browser
    browser.close()


def test_every_page_works_offline_in_chromium(tmp_path_factory, chromium):
    book = build_book(tmp_path_factory)
    assert book.returncode == 0, f"the book did not build (see test_book.py):\n{book.tail}"
    shots = os.environ.get("SEGLIB_BOOK_SCREENSHOTS")
    problems: list[str] = []
    seen = {"pages": 0, "math": 0, "images": 0, "sliders": 0, "animations": 0}

    for name in book.pages:
        path = book.page_html(name)
        assert path.is_file(), f"no HTML for {name}"
        page = Page(chromium, path.as_uri())
        try:
            page.open()
            state = page.evaluate(PAGE_STATE)
            found: list[str] = []

            if state["math"]:
                if not state["mathjax"]:
                    found.append(f"{state['math']} math elements but MathJax did not load")
                found += [f"math not typeset: {text!r}" for text in state["untypeset"][:5]]
                found += [f"TeX error: {text}" for text in state["texErrors"][:5]]
            found += [f"raw TeX in the text: {text!r}" for text in state["raw"][:5]]
            found += [f"image did not load: {img['src']}" for img in state["images"] if not img["ok"]]
            if state["widgetsUnrendered"]:
                found.append(f"{state['widgetsUnrendered']} of {state['widgetViews']} widgets did not render")
            found += page.evaluate(f"{LAYOUT}({MIN_SCALE})")["problems"]

            for i, span in enumerate(state["sliders"]):
                if span <= 0:
                    continue
                before = page.evaluate(f"{SLIDER_PICTURE}({i})")
                page.press(SLIDER, i, "ArrowRight", 39)
                after = page.evaluate(f"{SLIDER_PICTURE}({i})")
                if after[0] == before[0] or not after[1]:
                    found.append(f"static slider {i}: moving it did not show another picture")
                page.press(SLIDER, i, "ArrowLeft", 37)
            for i in range(state["animations"]):
                before = page.evaluate(f"{ANIMATION_FRAME}({i})")
                page.click(ANIMATION, i)
                after = page.evaluate(f"{ANIMATION_FRAME}({i})")
                if after[0] == before[0] or not after[1]:
                    found.append(f"animation {i}: clicking 'Next frame' did not show another frame")

            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(Path(shots) / (name.replace("/", "__") + ".png"))
            chromium.pump(0.1)
            found += [f"network request: {url[:150]}" for url in dict.fromkeys(page.remote)]
            found += [f"failed to load: {what}" for what in dict.fromkeys(page.failed)]
            found += [f"JavaScript error: {msg}" for msg in dict.fromkeys(page.js_errors) if not _allowed(msg)]
        finally:
            page.close()

        problems += [f"{name}: {what}" for what in found]
        seen["pages"] += 1
        seen["math"] += state["math"]
        seen["images"] += len(state["images"])
        seen["sliders"] += sum(1 for span in state["sliders"] if span > 0)
        seen["animations"] += state["animations"]

    assert not problems, "the built book does not work offline:\n" + "\n".join(problems)
    # The checks above must have had something to check.
    assert seen["pages"] == len(book.pages) and seen["math"] and seen["images"], seen


def test_the_layout_check_catches_wide_tables_code_and_shrunk_figures(tmp_path, chromium):
    """LAYOUT can fail: a page with a figure twice the column's width (shrunk by max-width), a
    table and a code block wider than the column, and, as controls, ones that fit."""
    wide_png = tmp_path / "wide.png"
    narrow_png = tmp_path / "narrow.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for path, width in ((wide_png, 16), (narrow_png, 4)):
        fig = plt.figure(figsize=(width, 1), dpi=100)
        fig.savefig(path)
        plt.close(fig)
    long_line = "x = " + " + ".join(["value"] * 60)
    page = tmp_path / "page.html"
    page.write_text(
        f"""<!doctype html><html><body><article class="bd-article" style="width:700px">
        <div class="cell"><div class="cell_input"><pre>short = 1</pre></div>
          <div class="cell_output"><img src="narrow.png" style="max-width:100%"></div></div>
        <div class="cell"><div class="cell_input"><pre style="overflow-x:auto">{long_line}</pre></div>
          <div class="cell_output"><img src="wide.png" style="max-width:100%"></div></div>
        <table><tr>{"<td>a_long_unbreakable_cell_value</td>" * 30}</tr></table>
        </article></body></html>""",
        encoding="utf-8",
    )
    tab = Page(chromium, page.as_uri())
    try:
        tab.open()
        problems = tab.evaluate(f"{LAYOUT}({MIN_SCALE})")["problems"]
    finally:
        tab.close()
    assert any(p.startswith("figure shrunk to 44%") for p in problems), problems
    assert any("scrolls sideways" in p and "x = value" in p for p in problems), problems
    assert any(p.startswith("table") and "sticks out" in p for p in problems), problems
    assert not any("short = 1" in p for p in problems), problems
