# Two commands set everything up on a fresh machine:
#   make run    install, migrate, load the demo and serve it on 127.0.0.1:8000
#   make test   install the test tools and run the whole suite
# Both are idempotent: a second run only reinstalls when pyproject.toml changed.
# Apart from both, make bench measures the product (bench/README.md).

VENV := .venv
# The browser tests drive Debian's Chromium (never a downloaded browser); the CJK
# font is for the screenshots they take.
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
CHROMIUM_PACKAGES := chromium fonts-wqy-microhei
# The benchmark's load generator, Debian's wrk.
WRK := /usr/bin/wrk
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
# make run is a local demo: debug pages on, demo data allowed.
DEV_ENV := DEBUG=$${DEBUG:-true}
# make run talks to the local WeChat simulator (manage.py wechat_simulator) on port
# 8001 with its demo account, and treats any browser as WeChat's, so a desktop
# browser can log in through the simulator's consent page.
WECHAT_SIM := http://127.0.0.1:8001
WECHAT_SIM_ENV := WECHAT_API_BASE=$(WECHAT_SIM) WECHAT_OAUTH_BASE=$(WECHAT_SIM) \
	WECHAT_APP_ID=wx-demo-app-id WECHAT_APP_SECRET=demo-app-secret-not-for-production \
	WECHAT_REMINDER_TEMPLATE_ID=demo-reminder-template \
	WECHAT_CALLBACK_TOKEN=demoCallbackToken WECHAT_ASSUME_IN_WECHAT=true
RUN_ENV := $(DEV_ENV) $(WECHAT_SIM_ENV)

.PHONY: run serve test browser faults load bench lint format check-migrations messages migrate demo clean

# The WeChat simulator and a job worker run beside the web server; when the web
# server stops (Ctrl-C), so do they.
run: $(VENV)/.deps-run
	$(RUN_ENV) $(MANAGE) migrate --no-input -v 0
	$(RUN_ENV) $(MANAGE) load_demo
	$(RUN_ENV) bash -c 'trap "kill \$$(jobs -p) 2>/dev/null" EXIT; \
		$(MANAGE) wechat_simulator --port 8001 & \
		$(MANAGE) run_jobs --loop --interval 5 & \
		$(MANAGE) runserver 127.0.0.1:8000'

# Production serving (README "Deploying"): settings from the environment or .env,
# DEBUG off, hashed static files, gunicorn. gunicorn runs `check --deploy` first
# and refuses to start on any warning. Migrations are a separate step.
serve: $(VENV)/.deps-run
	$(MANAGE) collectstatic --no-input -v 0
	$(VENV)/bin/gunicorn -c config/gunicorn.conf.py

test: $(VENV)/.deps-test browser
	$(PY) -m pytest $(PYTEST_ARGS)

# The fault suite: worker processes killed, PostgreSQL restarted, WeChat failing.
# It needs DATABASE_URL on PostgreSQL; .ci/run runs it.
faults: $(VENV)/.deps-test
	$(PY) -m pytest tests/faults --faults $(PYTEST_ARGS)

# 200 clients on one PR through gunicorn for 60 s (tests/load); needs a PostgreSQL
# DATABASE_URL. Writes var/load/summary.json and var/load/gunicorn.log.
load: $(VENV)/.deps-test
	$(PY) -m pytest tests/load --load -s $(PYTEST_ARGS)

# Benchmarks on the machine's PostgreSQL, never part of test or CI; BENCH_QUICK=1
# for small sizes, BENCH_ARGS for bench/run.py's options (--only poll,scale).
bench: $(VENV)/.deps-bench $(WRK)
	$(PY) -m bench.run $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)

lint: $(VENV)/.deps-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.deps-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-migrations: $(VENV)/.deps-run
	$(MANAGE) makemigrations --check --dry-run

# Bring the Chinese catalogue up to date with the code, translate what is new in
# locale/zh_Hans/LC_MESSAGES/django.po, run this again to compile, commit both files.
messages: $(VENV)/.deps-run
	$(MANAGE) makemessages -l zh_Hans --no-location \
	  --ignore='.venv/*' --ignore='staticfiles/*' --ignore='tests/*' --ignore='var/*'
	$(MANAGE) compilemessages --ignore='.venv/*'

migrate: $(VENV)/.deps-run
	$(DEV_ENV) $(MANAGE) migrate --no-input

demo: $(VENV)/.deps-run
	$(DEV_ENV) $(MANAGE) load_demo

clean:
	rm -rf $(VENV) var staticfiles *.egg-info

# The virtual environment, made with the first Python 3.12+ that .ci/find-python sees.
$(PY):
	"$$(.ci/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.deps-run: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

# What the browser tests need; .ci/run asks for it before its first make test.
browser: $(CHROMIUM) $(CJK_FONT)

# One install for both (a grouped target): a machine may have Chromium without the font.
$(CHROMIUM) $(CJK_FONT) &:
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(CHROMIUM_PACKAGES) for the browser tests"; \
	  apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(CHROMIUM_PACKAGES); \
	else \
	  echo "The browser tests need Debian's Chromium at $(CHROMIUM), and will fail" >&2; \
	  echo "without it: sudo apt-get install $(CHROMIUM_PACKAGES)," >&2; \
	  echo "or leave them out: make test PYTEST_ARGS=\"-m 'not browser'\"" >&2; \
	fi

$(WRK):
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "installing wrk for the benchmarks"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; \
	else \
	  echo "make bench needs Debian's wrk: sudo apt-get install wrk" >&2; exit 1; \
	fi

$(VENV)/.deps-bench: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[bench]'
	@touch $@

$(VENV)/.deps-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	@touch $@
