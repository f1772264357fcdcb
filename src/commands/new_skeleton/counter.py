"""A visit counter kept in a file (replace with your service).

Run as `python3 counter.py PATH`: adds one visit to the count in PATH.
"""

import sys
import time


def increment(path):
    with open(path) as f:
        value = int(f.read())
    time.sleep(0.2)  # some work between the read and the write
    with open(path, "w") as f:
        f.write(str(value + 1))


if __name__ == "__main__":
    increment(sys.argv[1])
