#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of bench/report.py: which implementation fills each column, what
each ratio compares, and when a target counts as met.

usage: test-report.py PATH/TO/report.py
"""

import importlib.util
import os
import sys
import tempfile
import unittest

REPORT = None


def line(fig, impl, value, unit):
    return 'bench=%s impl=%s value=%s min=%s max=%s runs=7 unit=%s\n' % (
        fig, impl, value, value, value, unit)


def rows_of(lines):
    """Parse the lines as a results file; name -> summary row."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'results.txt')
        with open(path, 'w', encoding='utf-8') as f:
            f.writelines(lines)
        figs, _ = REPORT.parse(path)
    return {n: REPORT.evaluate(n, f) for n, f in figs.items()}


class Columns(unittest.TestCase):
    def test_peer_target_lower_is_better(self):
        r = rows_of([line('bh-self', 'loom', 20, 'ns/op'),
                     line('bh-self', 'libuv', 231, 'ns/op'),
                     line('bh-self', 'libevent', 242, 'ns/op'),
                     line('bh-self', 'raw-call', 1.5, 'ns/op')])['bh-self']
        self.assertEqual(r['loom'], 20)
        self.assertEqual(r['peer'], ('libuv', 231))
        self.assertEqual(r['floor'], ('raw-call', 1.5))
        self.assertEqual(r['ref'], 'libuv')
        self.assertAlmostEqual(r['ratio'], 20 / 231)
        self.assertEqual(r['met'], 'yes')

    def test_floor_target_higher_is_better(self):
        r = rows_of([line('bh-post/same', 'loom', 70e6, 'ops/s'),
                     line('bh-post/same', 'loom-bhs', 90e6, 'ops/s'),
                     line('bh-post/same', 'libuv', 74e6, 'ops/s'),
                     line('bh-post/same', 'raw', 140e6, 'ops/s')])
        r = r['bh-post/same']
        self.assertEqual(r['loom'], 70e6)  # the variant does not count
        self.assertEqual(r['peer'], ('libuv', 74e6))  # the larger is best
        self.assertAlmostEqual(r['ratio'], 0.5)
        self.assertAlmostEqual(r['score'], 0.5)
        self.assertEqual(r['met'], '**no**')

    def test_named_reference(self):
        r = rows_of([line('timers-arm-fire', 'loom', 0.14, 'us'),
                     line('timers-arm-fire', 'libuv', 0.10, 'us'),
                     line('timers-arm-fire', 'libev', 0.20, 'us')])
        r = r['timers-arm-fire']
        self.assertEqual(r['ref'], 'libev')  # not the best peer
        self.assertAlmostEqual(r['ratio'], 0.7)
        self.assertEqual(r['met'], 'yes')

    def test_ahead_of_every_peer(self):
        fig = 'wakeup-rt-blocking/same/p50'
        base = [line(fig, 'loom', 4.56, 'us'),
                line(fig, 'raw-futex', 4.68, 'us'),
                line(fig, 'raw-eventfd', 5.14, 'us')]
        r = rows_of(base + [line(fig, 'libev', 7.26, 'us')])[fig]
        self.assertEqual(r['ref'], 'raw-futex')
        self.assertEqual(r['met'], 'yes')
        # Within 1.05x of the floor, but behind a peer: not met.
        r = rows_of(base + [line(fig, 'libev', 4.5, 'us')])[fig]
        self.assertLess(r['ratio'], 1.05)
        self.assertEqual(r['met'], '**no**')

    def test_loom_variant_column(self):
        fig = 'wakeup-rt-poll/split/p50'
        r = rows_of([line(fig, 'loom', 54.3, 'us'),
                     line(fig, 'loom-poll', 0.281, 'us'),
                     line(fig, 'raw-spin', 0.13, 'us')])[fig]
        self.assertEqual(r['loom'], 0.281)
        self.assertAlmostEqual(r['ratio'], 0.281 / 0.13)
        self.assertEqual(r['met'], '**no**')

    def test_loom_variants_only(self):
        # Every implementation is loom's: the row still shows loom's
        # figure, compared with the BQL variant.
        r = rows_of([line('kvm-pio-2vcpu', 'loom-unlocked', 24799, 'ns/op'),
                     line('kvm-pio-2vcpu', 'loom-bql', 25875, 'ns/op')])
        r = r['kvm-pio-2vcpu']
        self.assertEqual(r['loom'], 24799)
        self.assertEqual(r['ref'], 'loom-bql')
        self.assertAlmostEqual(r['ratio'], 24799 / 25875)
        self.assertEqual(r['met'], '')

    def test_no_target_compares_with_floor_without_peer(self):
        r = rows_of([line('fds-10k-poll', 'loom', 762, 'us'),
                     line('fds-10k-poll', 'raw', 754.9, 'us')])
        r = r['fds-10k-poll']
        self.assertEqual(r['ref'], 'raw')
        self.assertEqual(r['target'], '—')
        self.assertEqual(r['met'], '')

    def test_missing_reference(self):
        r = rows_of([line('co-switch', 'loom', 8.1, 'ns/op'),
                     line('co-switch', 'sigsetjmp', 11.5, 'ns/op')])
        r = r['co-switch']
        self.assertIsNone(r['ratio'])
        self.assertEqual(r['met'], 'n/a')


class Document(unittest.TestCase):
    def test_markdown_and_count(self):
        lines = ['# loom benchmarks 2026-12-07 commit=abc quick=0\n',
                 'noise that is not a result\n',
                 line('bh-self', 'loom', 20, 'ns/op'),
                 line('bh-self', 'libuv', 231, 'ns/op'),
                 line('co-switch', 'loom', 8.1, 'ns/op'),
                 line('co-switch', 'boost', 6.4, 'ns/op'),
                 line('co-create/unpooled', 'loom', 12000, 'ns/op')]
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, 'results.txt')
            dst = os.path.join(d, 'report.md')
            with open(src, 'w', encoding='utf-8') as f:
                f.writelines(lines)
            self.assertEqual(REPORT.main(['report.py', src, dst]), 0)
            with open(dst, encoding='utf-8') as f:
                md = f.read()
        self.assertIn('- loom benchmarks 2026-12-07 commit=abc quick=0', md)
        self.assertIn('| bh-self | ns/op | 20.00 | libuv 231.0 | — | '
                      '0.09 (libuv) | <= 0.4x best peer | yes |', md)
        self.assertIn('| co-switch | ns/op | 8.10 | boost 6.40 | — | '
                      '1.27 (boost) | <= 1.0x boost | **no** |', md)
        self.assertIn('| co-create/unpooled | ns/op | 12000 | — | — | — '
                      '| — |  |', md)
        self.assertIn('Targets met: 1 of 2 measured.', md)
        self.assertNotIn('noise', md)


def main():
    global REPORT
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    # Import report.py without leaving a bytecode cache in the source tree.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location('report', sys.argv[1])
    REPORT = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(REPORT)
    prog = unittest.main(argv=sys.argv[:1], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
