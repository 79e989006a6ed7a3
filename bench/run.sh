#!/usr/bin/env bash
# One command for the benchmark on a fresh clone: installs wrk and the project if missing, then runs
# bench/run.py with the options given (--quick for a smoke run, --patients N, --soak 300 for the 5-minute
# memory check; see bench/run.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [ ! -x .venv/bin/cds-service ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q -e '.[dev]'
fi
exec .venv/bin/python bench/run.py "$@"
