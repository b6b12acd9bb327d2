"""gunicorn's settings in production: `make serve`, or
`gunicorn -c config/gunicorn.conf.py` (README "Deploying").

The address comes from gunicorn's own PORT variable (127.0.0.1:8000 without it)
and anything here can be overridden with GUNICORN_CMD_ARGS, e.g.
`GUNICORN_CMD_ARGS="--workers 3"`. Before the first worker starts, Django's
deployment checks run; any warning stops the server.
"""

import os
import sys

wsgi_app = "config.wsgi:application"

# Threads let a slow request (a WeChat call, a request-tail batch) hold one
# thread, not a whole process. Each thread keeps its own database connection:
# workers x threads connections per machine.
worker_class = "gthread"
workers = 2 * (os.cpu_count() or 1) + 1
threads = 4

# Recent gunicorn opens a control socket at one path per user, which a second
# server on the machine would fight over; nothing here uses it.
control_socket_disable = True

accesslog = "-"
# The path without its query: the OAuth callback's query carries a code and a
# state, which are credentials while they live.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def on_starting(server):
    """Refuse to start on a configuration that `check --deploy` faults."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    django.setup()
    try:
        call_command("check", deploy=True, fail_level="WARNING")
    except SystemCheckError as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        # Workers are forked from this process: text still in its buffer would be
        # written again by each of them.
        sys.stdout.flush()
