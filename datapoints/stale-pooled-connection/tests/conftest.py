import pytest

from harness import Trial


@pytest.fixture
def trial(request):
    t = Trial(request.node.name)
    try:
        yield t
    finally:
        t.close()
