import os

import pytest

import directory_data
from netem import Hub
from service import OUT, Fleet


@pytest.fixture(scope="session")
def fleet():
    os.makedirs(OUT, exist_ok=True)
    hub = Hub()
    f = Fleet(hub)
    try:
        directory_data.reset()
        f.ensure_running()
        yield f
    finally:
        f.close()
        hub.close()


@pytest.fixture
def out_dir():
    return OUT


@pytest.fixture
def fresh(fleet, request):
    """The shared instances, running and with plain links, over fresh seed data and an empty cache."""
    directory_data.reset()
    fleet.prepare(request.node.name)
    try:
        yield fleet
    finally:
        for inst in fleet.instances.values():
            inst.set_latency(0, 0)
            inst.redis_link.release()
