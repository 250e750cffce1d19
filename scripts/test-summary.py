#!/usr/bin/env python3
"""Sums TAP results over meson test logs and prints the final summary line.

  test-summary.py LABEL=BUILD_DIR[:FAILED_STEP] ...

Reads BUILD_DIR/meson-logs/testlog.json (one JSON object per test) and counts
every TAP subtest: 'ok' is passed, 'not ok' failed, '# SKIP' and '# TODO' are
skipped (never passed), a file that says '1..0 # SKIP' counts as one skip. A
test that meson failed (crash, timeout, bad plan, sanitizer exit code)
without a failing subtest counts as one more failure. FAILED_STEP marks a
build dir whose build or test run did not happen; it counts as one failure.
The last line printed is 'berth: N passed, N failed, N skipped'.
"""
import json
import os
import re
import sys

TAP_LINE = re.compile(r'^(not ok|ok)\b([^#]*)(#\s*(\w+)(.*))?$')
PLAN = re.compile(r'^1\.\.(\d+)\s*(#\s*(\w+).*)?$')
BAD_RESULTS = {'FAIL', 'TIMEOUT', 'ERROR', 'UNEXPECTEDPASS', 'INTERRUPT'}


def count_test(entry):
    passed = failed = skipped = 0
    plan_skip = False
    for line in (entry.get('stdout') or '').splitlines():
        m = TAP_LINE.match(line)
        if m:
            directive = (m.group(4) or '').upper()
            if directive in ('SKIP', 'TODO'):
                skipped += 1
            elif m.group(1) == 'ok':
                passed += 1
            else:
                failed += 1
            continue
        m = PLAN.match(line)
        if m and m.group(1) == '0':
            plan_skip = True
    result = entry.get('result', '')
    if passed + failed + skipped == 0:
        if result in BAD_RESULTS:
            failed = 1
        elif plan_skip or result == 'SKIP':
            skipped = 1
        else:
            passed = 1  # a plain exit-code test
    elif result in BAD_RESULTS and failed == 0:
        failed = 1
    return passed, failed, skipped


def failure_details(entry, budget=6):
    """The first failing subtests of a test and their first diagnostic
    lines, short: CI logs are often read only from their end."""
    out, lines = [], (entry.get('stdout') or '').splitlines()
    for i, line in enumerate(lines):
        if not line.startswith('not ok') or len(out) >= budget:
            continue
        out.append('  ' + line[:160])
        diag = [l for l in lines[i + 1:i + 12] if l.startswith('#')][:3]
        out.extend('    ' + l[:160] for l in diag)
    if not out:
        out.append(f"  (no failing subtest; meson: {entry.get('result')}, "
                   f"{entry.get('duration', 0):.0f} s)")
    return out[:budget * 2]


def main(args):
    total = [0, 0, 0]
    failed_tests = []
    details = []
    for arg in args:
        label, _, rest = arg.partition('=')
        build, _, failed_step = rest.partition(':')
        counts = [0, 0, 0]
        log = os.path.join(build, 'meson-logs', 'testlog.json')
        if failed_step:
            counts[1] += 1
            failed_tests.append(f'{label}: {failed_step}')
        if not failed_step or os.path.exists(log):
            try:
                with open(log) as f:
                    entries = [json.loads(l) for l in f if l.strip()]
            except OSError as e:
                entries = []
                counts[1] += 1
                failed_tests.append(f'{label}: no test log ({e.strerror})')
            for entry in entries:
                c = count_test(entry)
                counts = [a + b for a, b in zip(counts, c)]
                if c[1]:
                    failed_tests.append(f"{label}: {entry.get('name')} ({entry.get('result')})")
                    details.append((f"{label}: {entry.get('name')}", failure_details(entry)))
        print(f'{label}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped')
        total = [a + b for a, b in zip(total, counts)]
    for name, lines in details:
        print(f'failure in {name}:')
        print('\n'.join(lines))
    for t in failed_tests:
        print(f'FAILED {t}')
    print(f'berth: {total[0]} passed, {total[1]} failed, {total[2]} skipped')
    return 1 if total[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
