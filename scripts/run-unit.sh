#!/usr/bin/env bash
# Runs every unit-test binary given, prints Criterion's synthesis of each and
# one closing "N passed, N failed" line over all of them.
set -u
pass=0 fail=0 rc=0
for t in "$@"; do
  out=$("$t" --jobs 2 2>&1); code=$?
  printf '%s\n' "$out" | grep -E '^\[(----|FAIL|=+)\]|Synthesis|FAIL' || true
  p=$(printf '%s\n' "$out" | sed -n 's/.*Synthesis: Tested: \([0-9]*\) | Passing: \([0-9]*\) | Failing: \([0-9]*\).*/\2/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/.*Synthesis: Tested: \([0-9]*\) | Passing: \([0-9]*\) | Failing: \([0-9]*\).*/\3/p' | tail -1)
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
  if [ "$code" -ne 0 ] || [ -z "$p" ]; then rc=1; [ -z "$p" ] && { echo "$t: no synthesis (crashed?)"; printf '%s\n' "$out" | tail -20; fail=$((fail+1)); }; fi
done
echo "unit: $pass passed, $fail failed"
exit $rc
