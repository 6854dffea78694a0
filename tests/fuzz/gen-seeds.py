#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Seed corpora of the binary fuzz targets, generated rather than stored:
#   gen-seeds.py pvh DIR          PVH kernels (fuzz-pvh.c's header + ELF)
#   gen-seeds.py serial DIR       16550A programs (fuzz-serial.c's code)
#   gen-seeds.py virtio-blk DIR   requests in guest RAM (fuzz-virtio-blk.c)
#   gen-seeds.py virtio-mmio DIR  register programs (fuzz-virtio-mmio.c)
# Writes a few small files into DIR (created if needed) and nothing else;
# the same files every time.  The text corpus of fuzz-config lives in
# tests/fuzz/corpus/config/.
import os
import struct
import sys

# ---- PVH kernels ---------------------------------------------------------

PT_LOAD, PT_NOTE, PT_GNU_STACK = 1, 4, 0x6474E551
XEN_PHYS32_ENTRY = 18


def note(name, ntype, desc, align=4):
    """One ELF note: header, name and value, each padded to @align."""
    def pad(b):
        return b + b'\0' * (-len(b) % align)
    return (struct.pack('<III', len(name), len(desc), ntype) +
            pad(name) + pad(desc))


def elf(is64, loads, notes, note_align=4, sections=False, entry=None):
    """An ET_EXEC x86 file: @loads are (gpa, file bytes, memsz) placed at
    page-congruent offsets, @notes the bytes of one PT_NOTE segment."""
    ehsize, phsize, shsize = (64, 56, 64) if is64 else (52, 32, 40)
    phnum = len(loads) + 2
    note_off = 0x200
    body = {note_off: notes}
    phdrs = []
    off = 0x1000
    for gpa, data, memsz in loads:
        off += (gpa - off) % 0x1000
        body[off] = data
        phdrs.append((PT_LOAD, off, gpa, len(data), memsz, 0x1000))
        off += max(len(data), 1)
    phdrs.append((PT_NOTE, note_off, 0, len(notes), len(notes), note_align))
    phdrs.append((PT_GNU_STACK, 0, 0, 0, 0, 16))
    size = max(o + len(b) for o, b in body.items())
    shoff = 0
    if sections:
        shoff = (size + 7) & ~7
        size = shoff + 2 * shsize
    out = bytearray(size)
    ident = b'\x7fELF' + bytes([2 if is64 else 1, 1, 1]) + b'\0' * 9
    machine = 62 if is64 else 3
    if is64:
        hdr = ident + struct.pack('<HHIQQQIHHHHHH', 2, machine, 1, 0xdead,
                                  ehsize, shoff, 0, ehsize, phsize, phnum,
                                  shsize, 2 if sections else 0, 0)
    else:
        hdr = ident + struct.pack('<HHIIIIIHHHHHH', 2, machine, 1, 0xdead,
                                  ehsize, shoff, 0, ehsize, phsize, phnum,
                                  shsize, 2 if sections else 0, 0)
    out[0:len(hdr)] = hdr
    for i, (t, o, gpa, fsz, msz, al) in enumerate(phdrs):
        if is64:
            ph = struct.pack('<IIQQQQQQ', t, 5, o, gpa, gpa, fsz, msz, al)
        else:
            ph = struct.pack('<IIIIIIII', t, o, gpa, gpa, fsz, msz, 5, al)
        at = ehsize + i * phsize
        out[at:at + phsize] = ph
    for o, b in body.items():
        out[o:o + len(b)] = b
    return bytes(out)


def xen(entry, size=4, align=4):
    return note(b'Xen\0', XEN_PHYS32_ENTRY,
                struct.pack('<I' if size == 4 else '<Q', entry), align)


def header(layout, initrd=None, cmdline=None):
    flags = (1 if initrd is not None else 0) | (2 if cmdline is not None
                                                else 0)
    return struct.pack('<BBHI', layout, flags, cmdline or 0, initrd or 0)


def pvh_seeds():
    code = bytes(range(256)) * 2
    k64 = elf(True, [(0x100000, code, 0x3000), (0x200000, b'data', 0x100)],
              xen(0x100010))
    k32 = elf(False, [(0x100000, code, 0x3000)], xen(0x100000))
    return {
        'elf64': header(0) + k64,
        'elf32-initrd-cmdline': header(1, 0x10000, 40) + k32,
        'elf64-hole-initrd': header(2, 0x100000, 0) + k64,
        'elf64-note8': header(0, None, 100) + elf(
            True, [(0x100000, code, 0x1000)],
            note(b'GNU\0', 3, b'\1' * 20, 8) + xen(0x100004, 8, 8), 8),
        'elf32-bss-only': header(3) + elf(
            False, [(0x100000, code, 0x1000), (0x180000, b'', 0x8000)],
            xen(0x100000)),
        'elf64-four-segments': header(6, 0x2000, 16383) + elf(
            True, [(0x100000 + i * 0x10000, code[:64 * (i + 1)], 0x2000)
                   for i in range(4)], xen(0x100020)),
        'elf64-sections': header(5) + elf(
            True, [(0x100000, code, 0x1000)], xen(0x100000), sections=True),
        'elf64-high': header(1) + elf(
            True, [(0x100000, code, 0x1000), (0x100000000, code, 0x2000)],
            xen(0x100000)),
        'elf64-low-ram-only': header(7, 0x1000, 8) + elf(
            True, [(0x10000, code, 0x1000)], xen(0x10000)),
        'elf32-no-note': header(0) + elf(False, [(0x100000, code, 0x1000)],
                                         note(b'GNU\0', 1, b'\0' * 16)),
        'truncated': header(0) + k64[:40],
    }


# ---- 16550A programs -----------------------------------------------------

THR, IER, IIR, LCR, MCR, LSR, MSR, SCR = 0, 1, 2, 3, 4, 5, 6, 7
FCR = IIR


def access(reg, write, width=1, value=0):
    """fuzz-serial.c's access op: port COM1 + reg (reg may be -4..11)."""
    code = {1: 0, 2: 1, 4: 2, 8: 3}[width]
    op = bytes([((reg + 4) << 3) | (4 if write else 0) | code])
    return op + (value.to_bytes(width, 'little') if write else b'')


def wr(reg, value, width=1):
    return access(reg, True, width, value)


def rd(reg, width=1):
    return access(reg, False, width)


LOOP, STEP, RESET, FLUSH, CHECK = (bytes([0x80 | k]) for k in range(5))


def serial_seeds():
    linux_init = (wr(LCR, 0x80) + wr(THR, 1) + wr(IER, 0) + wr(LCR, 0x03) +
                  wr(FCR, 0xc7) + wr(MCR, 0x0b) + wr(IER, 0x0f) + rd(IIR) +
                  rd(LSR) + rd(MSR))
    hello = b''.join(wr(THR, c) + rd(LSR) for c in b'hello, world\n')
    loopback = (wr(MCR, 0x1f) + b''.join(wr(THR, c) for c in b'abc') +
                rd(LSR) + rd(THR) + rd(IIR) + rd(THR) + rd(THR) + rd(LSR))
    timeout = (wr(FCR, 0xc1) + wr(IER, 0x01) + wr(MCR, 0x10) +
               b''.join(wr(THR, c) for c in b'xyz') + rd(IIR) + STEP +
               b'\x10' + rd(IIR) + rd(THR) + rd(IIR) + CHECK)
    overrun = (wr(MCR, 0x10) + wr(IER, 0x05) +
               b''.join(wr(THR, c) for c in b'0123456789abcdefghij') +
               rd(LSR) + rd(IIR) + wr(FCR, 0x01) +
               b''.join(wr(THR, c) for c in bytes(range(20))) + rd(LSR) +
               rd(IIR) + wr(FCR, 0x07) + rd(LSR))
    thre = (wr(IER, 0x02) + rd(IIR) + rd(IIR) + wr(THR, 0x41) + rd(IIR) +
            wr(IER, 0) + wr(IER, 2) + rd(IIR) + RESET + rd(IIR))
    widths = (wr(THR, 0x41424344, 4) + rd(THR, 4) + wr(LSR, 0xffff, 2) +
              rd(MSR, 2) + rd(SCR, 2) + wr(SCR, 0x1122334455667788, 8) +
              rd(THR, 8) + rd(-1) + wr(-4, 0x55, 4) + rd(8) + wr(11, 1, 2) +
              rd(7, 4) + FLUSH + LOOP)
    modem = (wr(MCR, 0x10) + wr(MCR, 0x1f) + rd(MSR) + wr(MCR, 0x10) +
             rd(MSR) + wr(IER, 0x08) + wr(MCR, 0x13) + rd(IIR) + rd(MSR) +
             rd(IIR))
    divisor = (wr(LCR, 0x83) + wr(THR, 0) + wr(IER, 0) + wr(LCR, 0x1f) +
               wr(FCR, 0x01) + wr(MCR, 0x10) + wr(THR, 1) + STEP + b'\xff' +
               wr(LCR, 0x80) + rd(THR) + rd(IER) + wr(IER, 0xff) +
               wr(LCR, 0x03) + STEP + b'\x01' + rd(IIR))
    return {
        'linux-init': linux_init,
        'hello': hello,
        'loopback': loopback,
        'rx-timeout': timeout,
        'overrun': overrun,
        'thre-interrupt': thre,
        'widths': widths,
        'modem-status': modem,
        'divisor': divisor,
    }


# ---- virtio-blk requests in guest RAM ------------------------------------

# fuzz-virtio-blk.c's fixed layout.
DESC, AVAIL, USED = 0x0, 0x4000, 0x5000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13


class Ram:
    """Guest RAM as fuzz-virtio-blk.c sees it, built request by request."""

    def __init__(self):
        self.mem = bytearray(0x6000)
        self.next_desc = 0
        self.heap = 0x6000
        self.heads = []

    def put(self, gpa, data):
        if gpa + len(data) > len(self.mem):
            self.mem.extend(b'\0' * (gpa + len(data) - len(self.mem)))
        self.mem[gpa:gpa + len(data)] = data

    def alloc(self, data):
        gpa = self.heap
        self.put(gpa, data)
        self.heap += (len(data) + 15) & ~15
        return gpa

    def desc(self, table, i, gpa, length, flags, nxt):
        self.put(table + 16 * i, struct.pack('<QIHH', gpa, length, flags, nxt))

    def chain(self, bufs, indirect=False):
        """bufs: (gpa, len, writable); returns the head."""
        if indirect:
            table = self.heap
            self.heap += 16 * len(bufs)
            self.put(table + 16 * len(bufs) - 1, b'\0')
            for i, (gpa, length, w) in enumerate(bufs):
                last = i == len(bufs) - 1
                self.desc(table, i, gpa, length,
                          (0 if last else F_NEXT) | (F_WRITE if w else 0),
                          0 if last else i + 1)
            head = self.next_desc
            self.desc(DESC, head, table, 16 * len(bufs), F_INDIRECT, 0)
            self.next_desc += 1
        else:
            head = self.next_desc
            for i, (gpa, length, w) in enumerate(bufs):
                last = i == len(bufs) - 1
                self.desc(DESC, head + i, gpa, length,
                          (0 if last else F_NEXT) | (F_WRITE if w else 0),
                          0 if last else head + i + 1)
            self.next_desc += len(bufs)
        self.heads.append(head)
        return head

    def request(self, rtype, sector, data=(), indirect=False):
        hdr = self.alloc(struct.pack('<IIQ', rtype, 0, sector))
        status = self.alloc(b'\xff')
        bufs = [(hdr, 16, False)] + list(data) + [(status, 1, True)]
        return self.chain(bufs, indirect)

    def image(self, header):
        self.put(AVAIL, struct.pack('<HH', 0, len(self.heads)) +
                 b''.join(struct.pack('<H', h) for h in self.heads))
        return bytes(header) + bytes(self.mem)


def blk_header(qsize_log=4, features=0x3f, drive=0, errors=0):
    """qsize 2 << qsize_log; features and drive bits as the target reads."""
    return bytes([qsize_log - 1, features, drive, errors, 0, 0, 0, 0])


def blk_seeds():
    seeds = {}
    r = Ram()
    r.request(T_IN, 0, [(r.alloc(b'\0' * 512), 512, True)])
    seeds['read'] = r.image(blk_header())
    r = Ram()
    r.request(T_OUT, 1, [(r.alloc(b'\x11' * 512), 512, False),
                         (r.alloc(b'\x22' * 512), 512, False)])
    r.request(T_FLUSH, 0)
    seeds['write-flush'] = r.image(blk_header(drive=0x04))
    r = Ram()
    r.request(T_GET_ID, 0, [(r.alloc(b'\0' * 20), 20, True)])
    seeds['get-id'] = r.image(blk_header(qsize_log=2))
    r = Ram()
    seg = struct.pack('<QII', 8, 16, 0)
    r.request(T_DISCARD, 0, [(r.alloc(seg), 16, False)])
    r.request(T_WZ, 0, [(r.alloc(struct.pack('<QII', 32, 8, 1)), 16,
                         False)])
    seeds['discard-write-zeroes'] = r.image(blk_header(drive=0x08))
    r = Ram()
    r.request(T_IN, 4, [(r.alloc(b'\0' * 1024), 1024, True)], indirect=True)
    r.request(T_OUT, 6, [(r.alloc(b'\x33' * 512), 512, False)],
              indirect=True)
    seeds['indirect'] = r.image(blk_header(qsize_log=10))
    r = Ram()
    for i in range(4):
        r.request(T_IN if i % 2 else T_OUT, i,
                  [(r.alloc(b'\x44' * 512), 512, bool(i % 2))])
    seeds['four-mixed-uring'] = r.image(blk_header(drive=0x02))
    r = Ram()
    r.request(T_OUT, 0, [(r.alloc(b'\x55' * 512), 512, False)])
    r.request(T_IN, 200, [(r.alloc(b'\0' * 512), 512, True)])
    seeds['readonly-and-past-end'] = r.image(blk_header(drive=0x01))
    r = Ram()
    r.request(T_IN, 0, [(0x100000, 512, True)])
    r.request(T_IN, 0, [(r.alloc(b'\0' * 512), 0, True)])
    r.request(T_OUT, 0, [(r.alloc(b'\0' * 512), 512, True)])
    seeds['bad-buffers'] = r.image(blk_header())
    r = Ram()
    head = r.request(T_IN, 0, [(r.alloc(b'\0' * 512), 512, True)])
    r.desc(DESC, head + 2, r.heap, 1, F_NEXT | F_WRITE, head)
    seeds['chain-loop'] = r.image(blk_header())
    r = Ram()
    # A hostile guest points its reads at its own used ring: the same
    # chain 64 times, each read landing on answers already given (in any
    # order with the thread pool).
    r.request(T_IN, 0, [(USED + 4 + 8 * 16, 512, True)])
    r.heads *= 64
    seeds['reads-over-used-ring'] = r.image(blk_header(qsize_log=10))
    for i, name in enumerate(['fail', 'enospc', 'short', 'align4k',
                              'align-short', 'fail-short']):
        r = Ram()
        r.request(T_OUT, 1, [(r.alloc(b'\x66' * 1536), 1536, False)])
        r.request(T_IN, 0, [(r.alloc(b'\0' * 1000), 1000, True)])
        r.request(T_FLUSH, 0)
        seeds['fault-' + name] = r.image(
            blk_header(drive=(i + 1) << 4, errors=0x0e if i == 5 else 0))
    return seeds


# ---- virtio-mmio register programs ---------------------------------------

# fuzz-virtio-mmio.c's regs[], by name.
MMIO_REGS = ['magic', 'version', 'device_id', 'dev_features',
             'dev_features_sel', 'drv_features', 'drv_features_sel',
             'guest_page_size', 'queue_sel', 'queue_num_max', 'queue_num',
             'queue_align', 'queue_pfn', 'queue_ready', 'queue_notify',
             'isr', 'isr_ack', 'status', 'desc_lo', 'desc_hi', 'driver_lo',
             'driver_hi', 'device_lo', 'device_hi', 'shm_sel', 'shm_len',
             'generation', 'config', 'config_3b', 'last', 'odd', 'end']


def mr(name):
    return bytes([MMIO_REGS.index(name)])


def mw(name, value):
    return bytes([MMIO_REGS.index(name) | 0x20]) + struct.pack('<I', value)


def mmio_odd(name, write, width, value=0):
    code = {1: 0, 2: 1, 8: 2}[width]
    op = bytes([MMIO_REGS.index(name) | 0x40 | (0x20 if write else 0), code])
    return op + (value.to_bytes(width, 'little') if write else b'')


USED_IRQ, BROKEN, CFG_CHANGE, FAIL_START, SYS_RESET, BRING_UP = (
    bytes([0x80 | k]) for k in range(6))


def mmio_seeds():
    modern = (mw('status', 0) + mw('status', 1) + mw('status', 3) +
              mw('dev_features_sel', 1) + mr('dev_features') +
              mw('drv_features_sel', 1) + mw('drv_features', 1) +
              mw('drv_features_sel', 0) + mw('drv_features', 0x30000000) +
              mw('status', 11) + mr('status') + mw('queue_sel', 0) +
              mr('queue_num_max') + mw('queue_num', 64) +
              mw('desc_lo', 0x1000) + mw('driver_lo', 0x3000) +
              mw('device_lo', 0x4000) + mw('queue_ready', 1) +
              mw('status', 15) + mw('queue_notify', 0) + USED_IRQ +
              mr('isr') + mw('isr_ack', 1) + mr('isr'))
    legacy = (mw('status', 0) + mw('status', 3) + mw('drv_features', 0) +
              mw('guest_page_size', 4096) + mw('queue_sel', 0) +
              mw('queue_num', 16) + mw('queue_align', 4096) +
              mw('queue_pfn', 1) + mw('status', 7) + mw('queue_notify', 0) +
              BROKEN + mr('status') + mw('status', 0))
    return {
        'modern-bring-up': bytes([0x62, 60]) + modern,
        'legacy-bring-up': bytes([0x63, 60]) + legacy,
        'doorbells-4-queues': bytes([0x67, 0x80 | 60]) + BRING_UP +
        mw('queue_notify', 3) + mw('queue_notify', 0) + CFG_CHANGE +
        mr('generation') + SYS_RESET,
        'config-widths': bytes([0x02, 60]) + mr('config') +
        mmio_odd('config', False, 1) + mmio_odd('config_3b', False, 2) +
        mmio_odd('last', False, 8) + mmio_odd('config', True, 8, 1) +
        mmio_odd('odd', True, 2, 7) + mmio_odd('end', False, 1),
        'driver-ok-without-features-ok': bytes([0x02, 8]) +
        mw('status', 3) + mw('queue_num', 3) + mw('queue_ready', 1) +
        mw('status', 7) + mr('status') + mw('queue_notify', 9),
        'failed-start': bytes([0x04, 60]) + FAIL_START + BRING_UP +
        mr('status') + BROKEN + USED_IRQ + mw('status', 0) + mr('isr'),
        # Found by fuzzing: Status 0x400 stored 0 without a reset.
        'regress-status-no-driver-bits': bytes([0x63, 60]) + BRING_UP +
        mw('status', 0x400) + mr('status') + mw('queue_notify', 0) +
        BRING_UP + mw('status', 0x40) + mr('status'),
        # Found by fuzzing: a refused FEATURES_OK alone stored 0 too.
        'regress-refused-features-ok-alone': bytes([0x62, 60]) + BRING_UP +
        mw('status', 1) + mw('drv_features_sel', 1) +
        mw('drv_features', 0x10000000) + mw('status', 8) + mr('status'),
    }


def main():
    targets = {'pvh': pvh_seeds, 'serial': serial_seeds,
               'virtio-blk': blk_seeds, 'virtio-mmio': mmio_seeds}
    if len(sys.argv) != 3 or sys.argv[1] not in targets:
        sys.exit('usage: gen-seeds.py %s DIR' % '|'.join(targets))
    seeds = targets[sys.argv[1]]()
    os.makedirs(sys.argv[2], exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(sys.argv[2], name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
