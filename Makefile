# Two commands set everything up on a fresh machine:
#   make run    install, migrate, load the demo and serve it on 127.0.0.1:8000
#   make test   install the test tools and run the whole suite
# Both are idempotent: a second run only reinstalls when pyproject.toml changed.

VENV := .venv
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

.PHONY: run test lint format check-migrations migrate demo clean

# The simulator runs in the background; when the web server stops, so does it.
run: $(VENV)/.deps-run
	$(RUN_ENV) $(MANAGE) migrate --no-input -v 0
	$(RUN_ENV) $(MANAGE) load_demo
	$(RUN_ENV) bash -c 'trap "kill \$$(jobs -p) 2>/dev/null" EXIT; \
		$(MANAGE) wechat_simulator --port 8001 & \
		$(MANAGE) runserver 127.0.0.1:8000'

test: $(VENV)/.deps-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.deps-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.deps-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-migrations: $(VENV)/.deps-run
	$(MANAGE) makemigrations --check --dry-run

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

$(VENV)/.deps-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	@touch $@
