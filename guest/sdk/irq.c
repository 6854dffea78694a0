/* SPDX-License-Identifier: MIT */
/*
 * The local APIC in xAPIC mode and the IOAPIC, through their MMIO pages at
 * CPL3: enabling the local APIC to take interrupts, sending IPIs, routing
 * IOAPIC inputs.  Interrupts are then taken only in sdk_wait_interrupt()
 * (isr.S counts them and sends the EOI).
 */
#include "sdk-int.h"

#define LAPIC_TPR 0x80
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LVT_MASKED (1u << 16)
#define SVR_ENABLE (1u << 8)
#define ICR_BUSY (1u << 12)
#define ICR_ASSERT (1u << 14)
#define ICR_SELF (1u << 18)

static uint32_t lapic_read(uint32_t reg)
{
    return sdk_mmio_read32(SDK_LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
    sdk_mmio_write32(SDK_LAPIC_BASE + reg, v);
}

/* sdk_lapic_enable() - see sdk.h.  Context: any CPU (its own APIC). */
void sdk_lapic_enable(void)
{
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED); /* no ExtINT from the PIC */
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, SVR_ENABLE | SDK_VEC_SPURIOUS);
}

/*
 * sdk__lapic_icr() - write the interrupt command register and wait until
 * the APIC has sent the IPI.  Returns false if it stays busy.
 * Context: any CPU.
 */
bool sdk__lapic_icr(uint32_t hi, uint32_t lo)
{
    uint32_t tries;

    lapic_write(LAPIC_ICR_HI, hi);
    lapic_write(LAPIC_ICR_LO, lo);
    for (tries = 0; tries < 100000; tries++) {
        if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY)) {
            return true;
        }
        sdk_pause();
    }
    return false;
}

/* sdk_send_ipi() - see sdk.h.  Context: any CPU. */
bool sdk_send_ipi(uint32_t apic_id, uint8_t vector)
{
    return sdk__lapic_icr(apic_id << 24, ICR_ASSERT | vector);
}

/* sdk_send_ipi_self() - see sdk.h.  Context: any CPU. */
bool sdk_send_ipi_self(uint8_t vector)
{
    return sdk__lapic_icr(0, ICR_SELF | ICR_ASSERT | vector);
}

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define REDTBL_LEVEL (1u << 15)
#define REDTBL_MASKED (1u << 16)

static struct sdk_spinlock ioapic_lock;

static void ioapic_write(uint32_t reg, uint32_t v)
{
    sdk_mmio_write32(SDK_IOAPIC_BASE + IOAPIC_REGSEL, reg);
    sdk_mmio_write32(SDK_IOAPIC_BASE + IOAPIC_WINDOW, v);
}

/* sdk_ioapic_route() - see sdk.h.  Context: any CPU. */
void sdk_ioapic_route(unsigned pin, uint8_t vector, uint32_t apic_id,
                      bool level)
{
    sdk_spin_lock(&ioapic_lock);
    ioapic_write(IOAPIC_REDTBL(pin) + 1, apic_id << 24);
    ioapic_write(IOAPIC_REDTBL(pin), vector | (level ? REDTBL_LEVEL : 0));
    sdk_spin_unlock(&ioapic_lock);
}

/* sdk_ioapic_mask() - see sdk.h.  Context: any CPU. */
void sdk_ioapic_mask(unsigned pin)
{
    sdk_spin_lock(&ioapic_lock);
    ioapic_write(IOAPIC_REDTBL(pin), REDTBL_MASKED);
    sdk_spin_unlock(&ioapic_lock);
}

/* sdk_irq_count() - see sdk.h.  Context: any CPU. */
uint32_t sdk_irq_count(unsigned vec)
{
    return vec < 256 ? sdk_atomic_load(&sdk_irq_counts[vec]) : 0;
}
