#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The hardening the build promises (meson.build, -Dhardening), checked in
the binaries it made, with binutils' readelf: full RELRO (a GNU_RELRO
segment and BIND_NOW), a non-executable stack, stack canaries (a call of
__stack_chk_fail) and, when the build fortifies, glibc's checked calls
(__*_chk).  Programs must also be position-independent.

usage: test-hardening.py [--fortify] [--pie PROGRAM]... [LIBRARY]...
"""

import argparse
import re
import subprocess
import sys


def readelf(*args):
    return subprocess.run(['readelf', '-W'] + list(args), check=True,
                          capture_output=True, text=True).stdout


def problems(path, fortify, pie):
    """What @path lacks, as a list of sentences (empty: nothing)."""
    out = []
    header = readelf('-h', path)
    segments = readelf('-l', path)
    dynamic = readelf('-d', path)
    imports = set()
    for ln in readelf('--dyn-syms', path).splitlines():
        f = ln.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(f) >= 8 and f[6] == 'UND':
            imports.add(f[7].split('@')[0])

    if not re.search(r'^\s*GNU_RELRO\s', segments, re.M):
        out.append('no GNU_RELRO segment (-z relro)')
    if not re.search(r'\(FLAGS\)\s.*\bBIND_NOW\b', dynamic) and \
       not re.search(r'\(FLAGS_1\)\s.*\bNOW\b', dynamic):
        out.append('not bound at load (-z now)')
    stack = re.search(r'^\s*GNU_STACK\s.*$', segments, re.M)
    if not stack or 'E' in stack.group(0).split()[-2]:
        out.append('executable or unmarked stack')
    if '__stack_chk_fail' not in imports:
        out.append('no stack canary anywhere (-fstack-protector-strong)')
    if fortify and not any(re.fullmatch(r'__\w+_chk', s) for s in imports):
        out.append('no checked libc call (-D_FORTIFY_SOURCE)')
    if pie:
        if not re.search(r'Type:\s+DYN\b', header) or \
           not re.search(r'\(FLAGS_1\)\s.*\bPIE\b', dynamic):
            out.append('not a position-independent executable')
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fortify', action='store_true',
                    help='the build defines _FORTIFY_SOURCE')
    ap.add_argument('--pie', action='append', default=[], metavar='PROGRAM',
                    help='a program (checked for PIE too)')
    ap.add_argument('libraries', nargs='*')
    a = ap.parse_args()
    failed = False
    for path, pie in [(p, True) for p in a.pie] + \
                     [(p, False) for p in a.libraries]:
        found = problems(path, a.fortify, pie)
        for p in found:
            print('FAIL %s: %s' % (path, p))
        if not found:
            print('ok %s' % path)
        failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
