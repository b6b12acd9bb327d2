"""The product's settings for the benchmark's web server, plus one URL.

Everything else (DEBUG off, the secret key, persistent connections) comes from the
environment the harness sets, exactly as a deployment sets it.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
