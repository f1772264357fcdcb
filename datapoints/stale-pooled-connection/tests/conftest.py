import pytest

from harness import POOL_SIZE, Trial


def pytest_configure(config):
    config.addinivalue_line("markers", "pool_size(n): DB_POOL_SIZE of the test's service")


@pytest.fixture
def trial(request):
    marker = request.node.get_closest_marker("pool_size")
    t = Trial(request.node.name, pool_size=marker.args[0] if marker else POOL_SIZE)
    try:
        yield t
    finally:
        t.close()
