import pytest

from tests.jobs import tasks


@pytest.fixture(autouse=True)
def fresh_task_state():
    """The test tasks' records and gates start empty in every test."""
    tasks.RUNS.clear()
    tasks.GATES.clear()
    tasks.OBSERVED.clear()
    tasks.ENTERED.clear()
    yield
    for gate in tasks.GATES.values():
        gate.set()  # never leave a handler thread waiting
