#!/bin/sh
# The build: byte-compile the service.
set -e
python3 -m py_compile ledger.py
