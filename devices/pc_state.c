/*
 * pc_state.c - the board's snapshot glue: which sections make up the
 * machine, in order, and the rebuild of derived state after a load.
 *
 * Order: "cpu", "vclock" (so every device's post_load sees the restored
 * virtual time when it re-arms its timers), the devices, and last the
 * board's own "board" section: state that lives in the board rather than
 * in a device (the A20 gate as the memory system last applied it, the
 * POST code latch, a system reset requested but not yet carried out).  It comes last because the PIIX3's and the i8042's
 * post_loads re-drive their own A20 outputs; the gate the CPU saw wins.
 *
 * The two UARTs share one table ("uart16550"); in the list they appear as
 * "uart16550@3f8" (COM1) and "uart16550@2f8" (COM2), so a snapshot of a
 * machine with only COM2 never loads into one with only COM1.
 */
#include <stdio.h>

#include "devices/pc_internal.h"

/* ---- the board section (opaque = PcMachine) ---- */

static int board_post_load(void *opaque, char *err, size_t errlen)
{
    PcMachine *pc = opaque;
    if (pc->pm.a20_mask != 0xFFFFFFFFu && pc->pm.a20_mask != 0xFFEFFFFFu) {
        if (err && errlen)
            snprintf(err, errlen,
                     "state section 'board' field 'pm.a20_mask': 0x%08x is neither "
                     "0xffffffff (A20 on) nor 0xffefffff (A20 off)",
                     pc->pm.a20_mask);
        return -1;
    }
    if (pc->reset_requested != 0 && pc->reset_requested != 1) {
        if (err && errlen)
            snprintf(err, errlen, "state section 'board' field 'reset_requested': %d is not 0 or 1",
                     (int)pc->reset_requested);
        return -1;
    }
    /* The mask was written behind phys_set_a20()'s back: tell the CPU. */
    if (pc->pm.map_changed)
        pc->pm.map_changed(pc->pm.hook_opaque);
    return 0;
}

static const StateField board_fields[] = {
    ST_U32(pm.a20_mask, PcMachine),
    ST_U8(last_post, PcMachine),
    ST_I32(reset_requested, PcMachine),
    ST_END,
};

static const StateDesc board_state = {
    .name = "board",
    .version = 1,
    .min_version = 1,
    .fields = board_fields,
    .post_load = board_post_load,
};

/* Per-port copies of the UART table under distinct names (filled on first
 * use; the table and hooks are the UART's own). */
static StateDesc uart_desc[2];
/* NICs: "e1000@03.0", "e1000@04.0", ... by PCI slot (one table). */
static StateDesc nic_desc[PC_MAX_NICS];
static char nic_name[PC_MAX_NICS][16];

void pc_foreach_state(PcMachine *pc, PcStateFn fn, void *ctx)
{
    if (!uart_desc[0].name) {
        for (int n = 0; n < 2; n++) {
            uart_desc[n] = uart16550_state;
            uart_desc[n].name = n ? "uart16550@2f8" : "uart16550@3f8";
        }
    }
    fn(ctx, &cpu_state_desc, pc->cpu);
    fn(ctx, &vclock_state, &pc->clk);
    fn(ctx, &pci_bus_state, pc->pci);
    fn(ctx, &i440fx_state, pc->i440fx);
    fn(ctx, &piix3_state, pc->piix3);
    fn(ctx, &piix4_pm_state, pc->pm_dev);
    fn(ctx, &ide_state, pc->ide);
    if (pc->vga)
        fn(ctx, &vga_state, pc->vga);
    for (int n = 0; n < pc->nnics; n++) {
        snprintf(nic_name[n], sizeof(nic_name[n]), "e1000@%02x.%d", PCI_SLOT(pc->nic[n]->pci.devfn),
                 PCI_FUNC(pc->nic[n]->pci.devfn));
        nic_desc[n] = e1000_state;
        nic_desc[n].name = nic_name[n];
        fn(ctx, &nic_desc[n], pc->nic[n]);
    }
    fn(ctx, &i8259_state, pc->pic);
    if (pc->apic) {
        fn(ctx, &apic_state, pc->apic);
        fn(ctx, &ioapic_state, pc->ioapic);
    }
    fn(ctx, &i8254_state, pc->pit);
    fn(ctx, &mc146818_state, pc->rtc);
    fn(ctx, &i8042_state, pc->kbc);
    fn(ctx, &ps2_kbd_state, i8042_kbd(pc->kbc));
    fn(ctx, &ps2_mouse_state, i8042_mouse(pc->kbc));
    for (int n = 0; n < 2; n++)
        if (pc->uart[n])
            fn(ctx, &uart_desc[n], pc->uart[n]);
    fn(ctx, &fw_cfg_state, pc->fw_cfg);
    fn(ctx, &board_state, pc);
}

void pc_post_load(PcMachine *pc)
{
    /* Memory map: PAM (i440fx post_load) and the BARs (each PCI function's
     * post_load) are applied; A20 came from the board section.  Make sure
     * the CPU's copy of the A20 mask and its TLBs follow the final map. */
    if (pc->pm.map_changed)
        pc->pm.map_changed(pc->pm.hook_opaque);
    /* PCI INTx: recount every function's level and drive the PIRQ lines
     * (into the PIIX3 routing, then the 8259 and I/O APIC inputs). */
    pci_bus_refresh_irqs(pc->pci);
    /* The CPU's INTR pin: whatever the interrupt controllers now drive. */
    cpu_set_intr(pc->cpu, pc->apic ? apic_intr_pending(pc->apic)
                                   : i8259_intr_pending(pc->pic));
}
