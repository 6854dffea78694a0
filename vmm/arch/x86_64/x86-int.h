/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the files of vmm/arch/x86_64/ (not for other folders).
 */
#ifndef VMM_ARCH_X86_64_X86_INT_H
#define VMM_ARCH_X86_64_X86_INT_H

#include <stddef.h>

#include "vstate/kvm.h"

/**
 * vmm__x86_err() - format a one-line message into @err, return @code.
 * @err: the caller's buffer, or NULL (then nothing is written).
 * @errlen: its size.
 * @code: the negative errno to return.
 * @fmt: printf format of the message.
 *
 * Context: any.
 * Return: @code.
 */
int vmm__x86_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Where a vCPU ioctl goes: through vstate (@vcpu, on its thread) or, with
 * @vcpu NULL, straight to a raw vCPU fd.
 */
struct vmm__x86_vcpu_io {
    struct vmm_kvm_vcpu *vcpu;
    int fd;
};

/**
 * vmm__x86_vcpu_ioctl() - issue a vCPU ioctl through @io.
 * @io: the target.
 * @req: KVM_*.
 * @arg: its argument.
 * Context: the vCPU's thread, outside KVM_RUN.
 * Return: the ioctl's non-negative result, or -errno.
 */
int vmm__x86_vcpu_ioctl(const struct vmm__x86_vcpu_io *io, unsigned long req,
                        void *arg);

#endif /* VMM_ARCH_X86_64_X86_INT_H */
