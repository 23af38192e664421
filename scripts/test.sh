#!/usr/bin/env bash
# `npm test`: installs the software GPU and Chromium on Debian when missing (scripts/setup-system.sh),
# typechecks, runs the Node tests (GPU kernels on lavapipe or the real GPU) and the browser tests
# (headless Chromium). Ends with one line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
passed=0; failed=0; status=0

bash scripts/setup-system.sh || echo "setup-system failed: GPU and browser tests may fail" >&2

count() { # adds the counts of vitest JSON report $1 (a missing report counts as one failure)
  local out
  out=$(node -e "
    try { const r = JSON.parse(require('fs').readFileSync('$1', 'utf8'));
      const crashed = (r.testResults || []).filter(f => f.status === 'failed' && !(f.assertionResults || []).some(a => a.status === 'failed')).length;
      console.log(r.numPassedTests, r.numFailedTests + crashed);
    } catch { console.log(0, 1); }")
  passed=$((passed + ${out% *})); failed=$((failed + ${out#* }))
}

if npx tsc --noEmit -p .; then passed=$((passed + 1)); else echo "typecheck failed" >&2; failed=$((failed + 1)); status=1; fi

npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/node.json || status=1
count test-results/node.json

npx vitest run --config test/browser/vitest.config.ts --reporter=default --reporter=json --outputFile.json=test-results/browser.json || status=1
count test-results/browser.json

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
