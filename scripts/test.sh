#!/usr/bin/env bash
# The test command (npm test): Node tests on the software or real GPU, then the browser tests in
# headless Chromium. Ends with one line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
passed=0; failed=0; status=0

count() { # reads vitest JSON report $1 and adds its counts
  local p f
  p=$(node -e "const r=require('./$1');console.log(r.numPassedTests??0)" 2>/dev/null || echo 0)
  f=$(node -e "const r=require('./$1');console.log((r.numFailedTests??0)+(r.numRuntimeErrorTestSuites??0)+(r.numFailedTestSuites??0&&r.numTotalTests===0?1:0))" 2>/dev/null || echo 1)
  passed=$((passed + p)); failed=$((failed + f))
}

npx tsc --noEmit -p . || { echo "typecheck failed"; failed=$((failed + 1)); status=1; }

npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/node.json "$@" || status=1
count test-results/node.json

if [ -d test/browser ] && [ $# -eq 0 ]; then
  npx vitest run --config test/browser/vitest.config.ts --reporter=default --reporter=json --outputFile.json=test-results/browser.json || status=1
  count test-results/browser.json
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
