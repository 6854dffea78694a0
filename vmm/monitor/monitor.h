/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor: QEMU's machine protocol (docs/design/vmm-qmp.md).
 */
#ifndef VMM_MONITOR_MONITOR_H
#define VMM_MONITOR_MONITOR_H

/* Limits (documented in docs/design/vmm-qmp.md). */
/* One message, from its first byte to its last. */
#define VMM_QMP_MAX_MSG (1024 * 1024)
/* Nesting of arrays and objects in one message. */
#define VMM_QMP_MAX_DEPTH 1024
/*
 * Output queued for one client: past this, the client is dropped.  Room
 * for the largest reply: one echoing a VMM_QMP_MAX_MSG id whose every
 * character is escaped (\uXXXX: at most 3 bytes out per byte in).
 */
#define VMM_QMP_OUT_MAX (4 * 1024 * 1024)
/* Output queued above which a client's further commands wait. */
#define VMM_QMP_OUT_PAUSE (64 * 1024)
/* Sessions at once, over every socket; more are accepted and closed. */
#define VMM_QMP_MAX_SESSIONS 256

#endif /* VMM_MONITOR_MONITOR_H */
