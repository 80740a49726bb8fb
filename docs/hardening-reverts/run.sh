#!/usr/bin/env bash
# Check that security tests fail with their fix reverted.
#   docs/hardening-reverts/run.sh NAME "01b 02b ..." < tests.txt
# applies the diffs docs/hardening-reverts/ID-*.diff to the work tree, runs
# each test named on stdin ("BINARY TEST", or "sandbox TEST" for the
# sandbox crate's unit tests) alone, prints PASSED/FAILED with the first
# panic message, then restores runtime/. Logs: target/reverts/.
set -u
cd "$(dirname "$0")/../.."
batch=$1
ids=$2
if ! git diff --quiet -- runtime; then
    echo "runtime/ has uncommitted changes; commit or stash them first" >&2
    exit 2
fi
logs=target/reverts
mkdir -p "$logs"
for id in $ids; do
    if ! git apply docs/hardening-reverts/"$id"-*.diff; then
        echo "cannot apply $id" >&2
        git checkout -- runtime
        exit 1
    fi
done
while read -r bin test; do
    [ -z "$bin" ] && continue
    log=$logs/$batch-$bin-${test//:/_}.log
    if [ "$bin" = sandbox ]; then
        timeout 1200 cargo test -q -p chitin-sandbox --lib -- "$test" --exact >"$log" 2>&1
    else
        timeout 1200 cargo test -q -p chitin --test "$bin" -- "$test" --exact >"$log" 2>&1
    fi
    if [ $? -eq 0 ]; then r=PASSED; else r=FAILED; fi
    msg=$(grep -m1 -A3 "panicked at" "$log" | tail -3 | tr '\n' ' ' | cut -c1-300)
    echo "$batch [$ids] $bin::$test $r $msg"
done
git checkout -- runtime
