#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn bench result lines into a Markdown report (and optionally a PNG).

Input: lines "bench=<name> impl=<impl> value=<median> min=<x> max=<y>
runs=<n> unit=<unit>" (other lines are ignored).  impl is loom, a peer
(libuv, glib, libevent, libev, urcu, ...) or raw (the floor), optionally
with a "-<variant>" suffix.

Per figure the report gives loom's median, the best peer, the floor, the
ratio loom / reference and BENCH.md's target for it, and whether it is met.
Ratios compare medians from the same run only.

usage: report.py RESULTS.txt REPORT.md [--png REPORT.png]
"""

import os
import re
import shutil
import subprocess
import sys

# BENCH.md's targets: (figure regex, reference, relation, factor, text).
# reference: 'peer' = best peer, 'floor' = best raw*, 'abs' = the factor
# is an absolute value in the figure's unit, else an impl name.
TARGETS = [
    (r'^bh-self$', 'peer', '<=', 0.4, '<= 0.4x best peer'),
    (r'^bh-post/', 'floor', '>=', 0.9, '>= 0.9x floor'),
    (r'^wakeup-rt-blocking/[^/]+/p50$', 'floor', '<=', 1.05,
     '<= 1.05x raw, ahead of every peer'),
    (r'^wakeup-rt-poll/split/p50$', 'floor', '<=', 2.0, '<= 2x spin'),
    (r'^timers-arm$', 'peer', '<=', 1.0, '<= 1.0x best peer'),
    (r'^timers-arm-fire$', 'libev', '<=', 1.0, '<= 1.0x libev'),
    (r'^timers-rearm$', 'libev', '<=', 1.0, '<= 1.0x libev'),
    (r'^timer-lateness/p99$', 'libuv', '<=', 1.0, '<= libuv'),
    (r'^fds-10k$', 'raw-epoll', '<=', 1.1, '<= 1.1x raw epoll'),
    (r'^rcu-read$', 'urcu', '<=', 1.0, '<= 1.0x urcu memb'),
    (r'^rcu-call$', 'urcu', '>=', 1.5, '>= 1.5x urcu memb'),
    (r'^rcu-sync/', 'urcu', '<=', 1.0, '<= 1.0x urcu memb'),
    (r'^pool-throughput$', 'libuv', '>=', 2.0, '>= 2x libuv'),
    (r'^pool-rt/p50$', 'floor', '<=', 0.5, '<= 0.5x raw'),
    (r'^co-switch$', 'boost', '<=', 1.0, '<= 1.0x boost'),
    (r'^co-create/pooled$', 'boost', '<=', 1.0, '<= 1.0x boost pooled'),
    (r'^kvm-pio-exit', 'floor', '<=', 1.1, '<= 1.1x raw KVM_RUN loop'),
    (r'^vm-start/first-line$', 'qemu', '<=', 0.25, '<= 0.25x QEMU'),
    (r'^vm-rss$', 'qemu', '<=', 0.2, '<= 0.2x QEMU'),
    (r'^vm-threads$', 'qemu', '<=', 1.0, '<= QEMU'),
    (r'^blk-randread-4k-qd[14]$', 'qemu', '<=', 0.7, '<= 0.7x QEMU'),
    (r'^blk-seqread-1m$', 'qemu', '>=', 1.1, '>= 1.1x QEMU'),
]

# Figures whose loom column is a variant (the plain 'loom' impl there is a
# reference point, e.g. the same loops without polling; or loom has only
# variants), and for a figure without a target the impl its ratio
# compares with instead of the best peer (None: the best peer or floor).
LOOM_IMPL = [
    (r'^wakeup-rt-poll/', 'loom-poll', None),
    (r'^kvm-pio-2vcpu$', 'loom-unlocked', 'loom-bql'),
]

LINE = re.compile(r'^bench=(\S+)\s+impl=(\S+)\s+value=(\S+)\s+min=(\S+)\s+'
                  r'max=(\S+)\s+runs=(\d+)\s+unit=(\S+)')


def parse(path):
    """(figures in first-seen order: name -> {'unit', 'impls': {impl:
    row}}, the run's header comment lines)."""
    figs = {}
    header = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('# loom benchmarks') or \
                    line.startswith('# host:') or line.startswith('# total'):
                header.append(line[2:].strip())
            m = LINE.match(line.strip())
            if not m:
                continue
            name, impl, val, lo, hi, runs, unit = m.groups()
            fig = figs.setdefault(name, {'unit': unit, 'impls': {}})
            fig['impls'][impl] = {'value': float(val), 'min': float(lo),
                                  'max': float(hi), 'runs': int(runs)}
    return figs, header


def kind(impl):
    base = impl.split('-', 1)[0]
    if base == 'loom':
        return 'loom'
    if base == 'raw':
        return 'floor'
    return 'peer'


def higher_is_better(unit):
    return unit.endswith('/s')


def best(impls, which, hib):
    """(impl, value) of the best implementation of a kind, or None."""
    cands = [(k, v['value']) for k, v in impls.items() if kind(k) == which]
    if not cands:
        return None
    return (max if hib else min)(cands, key=lambda kv: kv[1])


def fmt(x):
    if x is None:
        return '—'
    ax = abs(x)
    if ax >= 1e6:
        return '%.2fM' % (x / 1e6)
    if ax >= 1e4:
        return '%.0f' % x
    if ax >= 100:
        return '%.1f' % x
    if ax >= 1:
        return '%.2f' % x
    return '%.3f' % x


def target_for(name):
    for rx, ref, rel, factor, text in TARGETS:
        if re.search(rx, name):
            return ref, rel, factor, text
    return None


def evaluate(name, fig):
    """One summary row as a dict."""
    impls, unit = fig['impls'], fig['unit']
    hib = higher_is_better(unit)
    loom_impl, own_ref = 'loom', None
    for rx, impl, ref in LOOM_IMPL:
        if re.search(rx, name):
            loom_impl, own_ref = impl, ref
    loom = impls.get(loom_impl, {}).get('value')
    peer = best(impls, 'peer', hib)
    floor = best(impls, 'floor', hib)
    row = {'name': name, 'unit': unit, 'loom': loom, 'peer': peer,
           'floor': floor, 'ratio': None, 'ref': None, 'target': '—',
           'met': '', 'score': None}
    tgt = target_for(name)
    if tgt:
        ref, rel, factor, text = tgt
        row['target'] = text
        if ref == 'peer':
            refv = peer
        elif ref == 'floor':
            refv = floor
        elif ref in impls:
            refv = (ref, impls[ref]['value'])
        else:
            refv = None
    else:
        rel, factor = None, None
        refv = peer or floor
        if own_ref in impls:
            refv = (own_ref, impls[own_ref]['value'])
    if tgt and tgt[0] == 'abs':
        if loom is None:
            row['met'] = 'n/a'
        else:
            ok = loom <= factor if rel == '<=' else loom >= factor
            row['met'] = 'yes' if ok else '**no**'
        # The ratio column still compares with the best peer.
        refv, rel = peer, None
    if loom is None or refv is None or refv[1] == 0:
        if tgt and not row['met']:
            row['met'] = 'n/a'
        return row
    ratio = loom / refv[1]
    row['ratio'] = ratio
    row['ref'] = refv[0]
    # >1 means loom is better than the reference, whatever the unit.
    row['score'] = ratio if hib else (1 / ratio if ratio else None)
    if rel:
        ok = ratio <= factor if rel == '<=' else ratio >= factor
        if 'ahead of every peer' in row['target'] and peer:
            ok = ok and (loom > peer[1] if hib else loom < peer[1])
        row['met'] = 'yes' if ok else '**no**'
    return row


def markdown(figs, rows, src, header):
    out = []
    out.append('# loom benchmark report\n')
    for h in header:
        out.append('- %s' % h)
    if header:
        out.append('')
    out.append('Source: `%s`.  Medians of the repetitions of one run; '
               'ratio = loom ÷ reference (the target\'s reference, else the '
               'best peer).  For ops/s higher is better, for every other '
               'unit lower is better.  Placement: split = two CPUs, same '
               '= one CPU, unpinned = scheduler\'s choice.\n' % src)
    out.append('| figure | unit | loom | best peer | floor | ratio '
               '(vs) | target | met |')
    out.append('|---|---|---|---|---|---|---|---|')
    for r in rows:
        peer = '%s %s' % (r['peer'][0], fmt(r['peer'][1])) if r['peer'] \
            else '—'
        floor = '%s %s' % (r['floor'][0], fmt(r['floor'][1])) \
            if r['floor'] else '—'
        ratio = '%.2f (%s)' % (r['ratio'], r['ref']) \
            if r['ratio'] is not None else '—'
        out.append('| %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['name'], r['unit'], fmt(r['loom']), peer, floor, ratio,
            r['target'], r['met']))
    met = sum(1 for r in rows if r['met'] == 'yes')
    total = sum(1 for r in rows if r['met'] in ('yes', '**no**'))
    out.append('\nTargets met: %d of %d measured.\n' % (met, total))
    out.append('## Every implementation\n')
    out.append('| figure | impl | median | min | max | runs | unit |')
    out.append('|---|---|---|---|---|---|---|')
    for name, fig in figs.items():
        for impl, v in fig['impls'].items():
            out.append('| %s | %s | %s | %s | %s | %d | %s |' % (
                name, impl, fmt(v['value']), fmt(v['min']), fmt(v['max']),
                v['runs'], fig['unit']))
    return '\n'.join(out) + '\n'


def plot(rows, png):
    """Bar chart of loom's advantage over the reference (log scale)."""
    if not shutil.which('gnuplot'):
        return False
    data = [r for r in rows if r['score']]
    if not data:
        return False
    dat = png + '.dat'
    with open(dat, 'w', encoding='utf-8') as f:
        for i, r in enumerate(data):
            f.write('%d "%s" %g\n' % (i, r['name'], r['score']))
    script = '\n'.join([
        'set terminal pngcairo size 1400,700 noenhanced' if
        subprocess.run(['gnuplot', '-e', 'set terminal pngcairo'],
                       capture_output=True).returncode == 0 else
        'set terminal png size 1400,700 noenhanced',
        'set output "%s"' % png,
        'set title "loom vs reference (>1: loom better; log scale)"',
        'set logscale y',
        'set style fill solid 0.6',
        'set boxwidth 0.7',
        'set xtics rotate by -45 font ",8"',
        'set grid ytics',
        'set rmargin 12',
        'set bmargin 12',
        'set yrange [*:*]',
        'unset key',
        'plot "%s" using 1:3:xtic(2) with boxes, 1 with lines lw 2' % dat,
    ])
    res = subprocess.run(['gnuplot'], input=script, text=True,
                         capture_output=True)
    os.unlink(dat)
    return res.returncode == 0


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    src, dst = argv[1], argv[2]
    png = argv[argv.index('--png') + 1] if '--png' in argv else None
    figs, header = parse(src)
    rows = [evaluate(n, f) for n, f in figs.items()]
    md = markdown(figs, rows, os.path.basename(src), header)
    if png and plot(rows, png):
        md += '\n![loom vs reference](%s)\n' % os.path.basename(png)
    with open(dst, 'w', encoding='utf-8') as f:
        f.write(md)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
