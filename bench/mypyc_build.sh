#!/usr/bin/env bash
# Issue 22 experiment, not the shipped build: a mypyc-compiled COPY of cds_service for measuring.
#
#   bash bench/mypyc_build.sh [DIR]        (default /tmp/cds-mypyc; needs gcc, Python headers, mypy)
#   python bench/cpu_inprocess.py --tree DIR      CPU per call of the compiled copy
#   cd DIR && PYTHONPATH=$PWD bash scripts/test   the suite against it (PYTHONPATH: for the tests'
#                                                 subprocesses, which start outside DIR)
#
# DIR is a copy of this checkout's tracked files (its .venv a link to this one's), compiled in place
# there. Never build in this tree: the .so files would sit beside the .py files, Python imports the
# .so first, and an edited .py would silently not run.
# What is compiled, and why the rest is not (docs in the commit messages of branch mypyc-experiment):
#   facts/**            the hot layer (~60 % of a call); every module compiles
#   cards/* except      thresholds.py (a pydantic model: mypyc 2.4 emits C that does not compile),
#                       base.py and suggestions.py (pydantic models with PrivateAttr: the compiled
#                       class body refuses the ModelPrivateAttr default at import)
#   not engine.py       same PrivateAttr reason (GapCard); moving the three classes out gains ~1 %
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-/tmp/cds-mypyc}"
mypyc=".venv/bin/mypyc"
[ -x "$mypyc" ] || { echo "mypyc missing: .venv/bin/pip install mypy" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest"
git ls-files -z | xargs -0 tar cf - | tar xf - -C "$dest"  # the working tree's tracked files, as edited
root="$PWD"
ln -s "$root/.venv" "$dest/.venv"
cd "$dest"
modules=(cds_service/facts/*.py cds_service/facts/judgment/*.py)
for f in cds_service/cards/*.py; do
  case "$f" in */thresholds.py|*/base.py|*/suggestions.py) ;; *) modules+=("$f") ;; esac
done
"$root/$mypyc" "${modules[@]}" > build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
rm -rf build
echo "compiled ${#modules[@]} modules into $dest ($(ls "$dest"/*.so | xargs -n1 basename))"
