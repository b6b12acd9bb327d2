"""Fixtures for every test that talks to WeChat: the simulator, over real HTTP.

One simulator serves the whole test session from a thread of the test process, on
a free port. Each test that asks for `wechat_sim` gets it reset, the settings
pointed at it with its demo account, and an empty cache, where the client keeps
the access token. Registered in tests/conftest.py.
"""

import pytest
from django.core.cache import cache

from reminders.wechat import simulator
from reminders.wechat.client import get_client


@pytest.fixture(scope="session")
def wechat_simulator_server():
    running = simulator.RunningSimulator()
    yield running
    running.stop()


@pytest.fixture
def wechat_sim(wechat_simulator_server, settings):
    """The simulator's control handle (`SimulatorHandle`), the app pointed at it.

    Its demo account knows the followers `simulator.DEMO_FOLLOWERS` and the
    template `simulator.DEMO_TEMPLATE_ID` with `DEMO_TEMPLATE_KEYS`. It pushes no
    delivery events until a test calls `set_callback(url, token)`.
    """
    url = wechat_simulator_server.url
    settings.WECHAT_API_BASE = url
    settings.WECHAT_OAUTH_BASE = url
    settings.WECHAT_APP_ID = simulator.DEMO_APP_ID
    settings.WECHAT_APP_SECRET = simulator.DEMO_APP_SECRET
    settings.WECHAT_REMINDER_TEMPLATE_ID = simulator.DEMO_TEMPLATE_ID
    settings.WECHAT_CALLBACK_TOKEN = simulator.DEMO_CALLBACK_TOKEN
    settings.WECHAT_CONNECT_TIMEOUT = 2.0
    settings.WECHAT_READ_TIMEOUT = 2.0

    handle = wechat_simulator_server.handle
    handle.reset()
    cache.clear()
    yield handle
    # Also wakes any answer that a scripted delay still holds back.
    handle.reset()


@pytest.fixture
def wechat_client(wechat_sim):
    """The application's WeChat client, talking to the simulator."""
    return get_client()
