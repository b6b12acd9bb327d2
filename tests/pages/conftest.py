import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import sync_playwright

# Playwright's sync API runs an asyncio loop in the test's thread, and Django then
# refuses ORM calls there as if they came from async code. The tests' ORM calls are
# plain synchronous ones, so the guard is switched off for this process.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium, never a downloaded one; the machine's network is closed, so
# Chromium's own background connections are switched off too.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}: "
            "apt-get install chromium (make test does it as root), "
            "or leave them out with -m 'not browser'."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, live_server):
    """Open a phone-sized page of the live server, as `user` (logged in) if given."""
    contexts = []

    def open_page(path, *, user=None, user_agent=None, fake_clock=False):
        context = chromium.new_context(
            viewport=PHONE,
            user_agent=user_agent,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        contexts.append(context)
        if user is not None:
            context.add_cookies([session_cookie(user, live_server.url)])

        page = context.new_page()
        if fake_clock:
            page.clock.install()  # before the page's first script runs
        page.goto(live_server.url + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def session_cookie(user, url):
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return {"name": name, "value": client.cookies[name].value, "url": url}
