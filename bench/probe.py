"""Run one function of a scenario inside a configured Django process.

    python -m bench.probe bench.scale:measure '{"calls": 1000}'

The environment (DATABASE_URL, DJANGO_SETTINGS_MODULE) says which database and
settings; the function's JSON answer is the last line on standard output. Logs go
to standard error, which the harness keeps in bench/results/logs/.
"""

import importlib
import json
import sys

import django


def main() -> None:
    target, arguments = sys.argv[1], json.loads(sys.argv[2])
    django.setup()
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    answer = function(**arguments)
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
