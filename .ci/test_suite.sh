#!/usr/bin/env bash
# The whole test suite as two pytest processes at once, one per core of a 2-core machine (most of
# the suite's time is CPU: programs importing torch and training tiny networks). The first takes the
# files whose whole-program runs go through the early-run lane (tests/conftest.py: the pipelines,
# the NFE study) and the evaluation's tests; the second every other file. The halves were balanced
# by their measured CPU time (README, Tests). Each half's report is printed when both have ended;
# the exit status is non-zero when either failed. Arguments go to both, e.g. `-m slow` or `-x`.
#
#     bash .ci/test_suite.sh            (what .ci/run runs after installing)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # two processes already fill the two cores
FIRST=(tests/test_pipeline.py tests/test_study_nfe.py tests/test_evaluate_synthetic.py)
logs=$(mktemp -d)
trap 'kill $first $second 2>/dev/null; rm -rf "$logs"' EXIT
"$PYTHON" -m pytest -q "$@" "${FIRST[@]}" >"$logs/first.txt" 2>&1 & first=$!
"$PYTHON" -m pytest -q "$@" tests "${FIRST[@]/#/--ignore=}" >"$logs/second.txt" 2>&1 & second=$!
status=0
for half in first second; do
  wait "${!half}"; code=$?
  [ "$code" -eq 5 ] && code=0  # no test of this half selected (a -m or -k filter)
  [ "$code" -ne 0 ] && status=1
  echo "=== $half half (exit status $code)"
  cat "$logs/$half.txt"
done
exit $status
