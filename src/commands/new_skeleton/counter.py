"""A visit counter kept in a file (replace with your service)."""

import time


def increment(path):
    with open(path) as f:
        value = int(f.read())
    time.sleep(0.01)  # some work between the read and the write
    with open(path, "w") as f:
        f.write(str(value + 1))
