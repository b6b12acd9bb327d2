"""Serve the local WeChat simulator: the API, the OAuth consent page and an inbox.

`make run` starts it on port 8001 next to the web server; alone:

    python manage.py wechat_simulator --port 8001

It plays the account that the settings name (the demo account when they are
empty) and pushes delivery events to the app's /wechat/callback, signed with
WECHAT_CALLBACK_TOKEN.
"""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from reminders.wechat import simulator


class Command(BaseCommand):
    help = "Serve the local WeChat simulator (API, OAuth consent page, inbox)."
    # It runs beside an app whose WeChat settings may still be wrong.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--callback-url",
            default=f"{settings.SITE_URL}/wechat/callback",
            help="Where delivery events are pushed; an empty value pushes none.",
        )

    def handle(self, *args, host, port, callback_url, **options):
        config = simulator.SimulatorConfig(
            app_id=settings.WECHAT_APP_ID or simulator.DEMO_APP_ID,
            app_secret=settings.WECHAT_APP_SECRET or simulator.DEMO_APP_SECRET,
            callback_url=callback_url or None,
            callback_token=settings.WECHAT_CALLBACK_TOKEN
            or simulator.DEMO_CALLBACK_TOKEN,
            templates={
                (
                    settings.WECHAT_REMINDER_TEMPLATE_ID or simulator.DEMO_TEMPLATE_ID
                ): simulator.DEMO_TEMPLATE_KEYS
            },
        )
        wechat = simulator.Simulator(config)
        server = simulator.SimulatorServer((host, port), wechat)
        # `make run` ends its children with SIGTERM; finish like on Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)

        self.stdout.write(
            f"WeChat simulator on {server.url} appid={config.app_id} "
            f"followers={len(config.followers)}; inbox: {server.url}/inbox"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            wechat.pusher.stop()

        calls = wechat.calls
        self.stdout.write(
            f"WeChat simulator stopped: {calls['send']} sends, "
            f"{len(wechat.messages)} messages accepted, "
            f"{calls['stable_token'] + calls['token']} token calls, "
            f"{calls['oauth_exchange']} logins"
        )


def _interrupt(signum, frame):
    raise KeyboardInterrupt
