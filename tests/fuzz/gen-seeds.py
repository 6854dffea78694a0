#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Seed corpora of the binary fuzz targets, generated rather than stored:
#   gen-seeds.py pvh DIR      PVH kernels (fuzz-pvh.c's 8-byte header + ELF)
#   gen-seeds.py serial DIR   16550A programs (fuzz-serial.c's byte code)
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


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ('pvh', 'serial'):
        sys.exit('usage: gen-seeds.py pvh|serial DIR')
    seeds = pvh_seeds() if sys.argv[1] == 'pvh' else serial_seeds()
    os.makedirs(sys.argv[2], exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(sys.argv[2], name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
