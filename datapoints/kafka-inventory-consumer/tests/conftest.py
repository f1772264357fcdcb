import pytest

import harness


@pytest.fixture(scope="session", autouse=True)
def schema():
    harness.migrate()


@pytest.fixture
def scenario_factory(request):
    made = []

    def make(partitions):
        s = harness.Scenario(request.node.name.replace("_", "-")[5:], partitions)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop_all()
