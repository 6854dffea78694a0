/* SPDX-License-Identifier: MIT */
/*
 * The -cpu option that both machine monitors get on this host, for the
 * tests and benchmarks that run one command line on loom-vm and on QEMU
 * (VMM.md).  Plain C and POSIX: no GLib, no libloom.
 *
 * QEMU 7.2 (Debian 12's qemu-system-x86) aborts at start with -cpu host
 * on some hosts: KVM offers IA32_ARCH_CAPABILITIES (MSR 0x10a) with a
 * value that KVM_SET_MSRS then refuses ("failed to set MSR 0x10a to
 * 0x69", an assertion in kvm_buf_set_msrs; seen on AMD EPYC under Linux
 * 6.18).  Turning the feature off (arch-capabilities=off: the guest no
 * longer sees the CPUID bit, so it never reads the MSR) avoids it, and
 * loom-vm accepts the same switch.  The probe asks QEMU itself, so a host
 * or QEMU without the bug keeps plain "host".
 */
#ifndef LOOM_GUEST_HOST_MONITOR_CPU_H
#define LOOM_GUEST_HOST_MONITOR_CPU_H

/* The feature switch appended to "host" when QEMU needs it. */
#define MONITOR_CPU_NO_ARCH_CAPS ",arch-capabilities=off"

/**
 * monitor_cpu_features() - what follows "host" in the -cpu option of
 * every monitor on this host: "" or MONITOR_CPU_NO_ARCH_CAPS.
 * @qemu: QEMU's path, or NULL to look up qemu-system-x86_64 in $PATH.
 *
 * The first call probes: it starts QEMU (microvm, KVM, paused, no guest)
 * with -cpu host and quits it over QMP on stdin; if that fails and the
 * same with MONITOR_CPU_NO_ARCH_CAPS succeeds, the answer is the switch.
 * Without QEMU, or when both fail (the caller's own run then shows
 * QEMU's error), it is "".  Later calls return the first answer.
 * Context: one thread at a time; it forks and reaps its own children.
 * Return: a static string.
 */
const char *monitor_cpu_features(const char *qemu);

#endif /* LOOM_GUEST_HOST_MONITOR_CPU_H */
