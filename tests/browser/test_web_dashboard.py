"""`perps-bot web` in a real headless Chromium (Debian's `chromium`, driven by Playwright): after a real
dev session on the mock the pages show the store's figures, the token is enforced, a running bot's
progress appears without a reload, and a screenshot of each page lands under var/screenshots/dashboard/."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from dashboard_support import REPO, SCREENSHOTS, StoreFigures, bot_env, perps_bot, plain, run_dev_session

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "test-token-0123456789abcdef"
REFRESH_S = 1.0
BITSTAMP = REPO.parent / "shared" / "data" / "market" / "ohlcv" / "bitstamp_BTC-USD_1m_2020-01-01.csv.gz"


class WebServer:
    """`perps-bot web --port 0` as its own process; the URL is the one it announces."""

    def __init__(self, root: Path) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (read back in stop)
        self.proc = subprocess.Popen(
            perps_bot("web", "--profile", "dev", "--port", "0", "--refresh", str(REFRESH_S), "--window-min", "600"),
            cwd=root,
            env={**bot_env(), "GPT_TRADER_WEB_TOKEN": TOKEN},
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", line)
        assert match, f"no URL announced: {line!r} {self._errors()}"
        self.url = match.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        out = self._errors()
        assert TOKEN not in out, "the token must never be printed"
        assert "Traceback" not in out, out[-3000:]

    def _errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()


@pytest.fixture(scope="module")
def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 30-cycle dev session plus a real backtest report under its var/ (made side by side)."""
    root = tmp_path_factory.mktemp("web_session")
    report = None
    if BITSTAMP.is_file():
        report = subprocess.Popen(
            perps_bot(
                "backtest", "--data", str(BITSTAMP), "--strategy", "sma_cross", "--report", "var/reports/sma.html"
            ),
            cwd=root,
            env=bot_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    run_dev_session(root)
    if report is not None:
        _out, err = report.communicate(timeout=180)
        assert report.returncode == 0, err[-2000:]
    return root


@pytest.fixture(scope="module")
def server(session_root: Path) -> Iterator[WebServer]:
    srv = WebServer(session_root)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required for the browser tests (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _signed_in(browser: Browser, server: WebServer) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server.url + f"?token={TOKEN}")
    return page


def test_token_is_enforced(server: WebServer, browser: Browser) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as http:
        for path in ("/", "/positions", "/orders", "/sessions", "/backtests", "/api/overview", "/static/app.js"):
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        assert http.get("/?token=wrong-token-0123456789").status_code == 401
        assert http.get("/login").status_code == 200
        ok = http.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["profile"] == "dev"
        exchanged = http.get(f"/orders?token={TOKEN}&symbol=BTC-USD")
        assert exchanged.status_code == 303
        assert exchanged.headers["location"] == "/orders?symbol=BTC-USD"  # the token leaves the address
        cookie = exchanged.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        http.cookies.update(exchanged.cookies)
        assert http.get("/api/overview").status_code == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert http.post("/api/overview", headers=bearer).status_code == 405  # read-only: GET only
        assert http.get("/api/overview?window=0", headers=bearer).status_code == 400
        for outside in ("/backtests/view/..%2F..%2Fetc%2Fpasswd", "/backtests/view/data/dev/bot.sqlite3"):
            assert http.get(outside, headers=bearer).status_code == 404, outside

    page = browser.new_context().new_page()
    response = page.goto(server.url)
    assert response is not None and response.status == 401
    assert page.locator("#token").is_visible()
    _shot(page, "login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#equity")
    assert page.url == server.url
    page.context.close()


def test_overview_shows_the_store(session_root: Path, server: WebServer, browser: Browser) -> None:
    figures = StoreFigures.read(session_root)
    page = _signed_in(browser, server)
    page.wait_for_selector("#fills tbody tr")
    assert page.inner_text("#equity") == f"{figures.equity:,.2f}"
    assert page.inner_text("#pnl-today") == f"{figures.equity - figures.day_start:+,.2f}"
    assert page.inner_text("#state") == "ACTIVE"
    assert page.inner_text("#cycle") == str(figures.cycle)
    rows = page.locator("#positions tbody tr")
    assert rows.count() == len(figures.positions)
    for symbol, size in figures.positions.items():
        cells = page.locator(f'#positions tr[data-symbol="{symbol}"] td').all_inner_texts()
        assert cells[:2] == [symbol, plain(size)]
    shown = figures.fills[:10]
    assert page.locator("#fills tbody tr").count() == len(shown)
    for fill in shown:
        cells = page.locator(f'#fills tr[data-trade-id="{fill["trade_id"]}"] td').all_inner_texts()
        assert cells[1:5] == [fill["symbol"], fill["side"], plain(Decimal(fill["size"])), plain(Decimal(fill["price"]))]
    assert page.locator("#equity-curve path").count() == 1
    assert page.locator('#guards tr[data-guard="daily_loss"]').count() == 1
    _shot(page, "overview")
    page.context.close()


def test_every_page_renders_and_is_captured(session_root: Path, server: WebServer, browser: Browser) -> None:
    figures = StoreFigures.read(session_root)
    page = _signed_in(browser, server)
    page.goto(server.url + "positions")
    page.wait_for_selector("#streams tbody tr")
    assert "n/a (venue mock" in page.inner_text("#rate-limit")
    assert figures.last_reconciliation_ts in page.inner_text("#reconciliation")
    _shot(page, "positions")

    symbol = figures.fills[0]["symbol"]
    page.goto(server.url + f"orders?symbol={symbol}")
    page.wait_for_selector("#fills tbody tr")
    fill_symbols = set(page.locator("#fills tbody tr td:nth-child(2)").all_inner_texts())
    order_symbols = set(page.locator("#orders tbody tr td:nth-child(2)").all_inner_texts())
    assert fill_symbols == {symbol} and order_symbols == {symbol}
    assert page.locator("#fills tbody tr").count() == sum(1 for f in figures.fills if f["symbol"] == symbol)
    _shot(page, "orders")
    page.goto(server.url + "orders")  # the filter form: sells only
    page.wait_for_selector("#fills tbody tr")
    page.select_option("#filters select[name=side]", "SELL")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"side=SELL"))
    page.wait_for_selector("#fills tbody tr")
    assert set(page.locator("#fills tbody tr td:nth-child(3)").all_inner_texts()) == {"SELL"}
    assert page.locator("#fills tbody tr").count() == sum(1 for f in figures.fills if f["side"] == "SELL")

    page.goto(server.url + "sessions")
    page.wait_for_selector(f'#sessions tr[data-session="{figures.session_id}"]')
    cells = page.locator(f'#sessions tr[data-session="{figures.session_id}"] td').all_inner_texts()
    assert cells[1] == "mock" and cells[4] == str(figures.cycle) and cells[6] == str(len(figures.fills))
    _shot(page, "sessions")

    page.goto(server.url + "backtests")
    assert BITSTAMP.is_file(), f"no sample data at {BITSTAMP} (../shared beside the project) to make a backtest report"
    page.wait_for_selector("#backtests tbody tr a")
    assert page.locator("#backtests tbody tr").count() == 1
    _shot(page, "backtests")
    page.click("#backtests tbody tr a")
    page.wait_for_selector("h1")
    assert page.inner_text("h1").startswith("Backtest: sma_cross")
    _shot(page, "backtest_report")
    page.context.close()


def test_a_running_bot_updates_the_page_without_reload(tmp_path: Path, browser: Browser) -> None:
    bot = subprocess.Popen(
        perps_bot("--profile", "dev", "--dev-fast", "--cycles", "2000", "--interval", "0.2"),
        cwd=tmp_path,
        env=bot_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    try:
        metrics = tmp_path / "var/data/perps_bot/dev/metrics.json"
        deadline = time.monotonic() + 60
        while not metrics.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert metrics.exists(), "the bot wrote no metrics"
        server = WebServer(tmp_path)
        page = _signed_in(browser, server)
        page.wait_for_function("() => /^\\d+$/.test(document.getElementById('cycle')?.textContent || '')")
        first = int(page.inner_text("#cycle"))
        page.evaluate("() => { window.__noReload = true; }")
        start = time.monotonic()
        page.wait_for_function(
            f"() => Number(document.getElementById('cycle').textContent) > {first}", timeout=(REFRESH_S + 2.0) * 1000
        )
        assert time.monotonic() - start <= REFRESH_S + 2.0
        assert page.evaluate("() => window.__noReload === true"), "the page reloaded"
        _shot(page, "overview_live")
        page.context.close()
    finally:
        if server is not None:
            server.stop()
        bot.terminate()
        bot.wait(timeout=30)
