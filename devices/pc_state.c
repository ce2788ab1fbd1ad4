/*
 * pc_state.c - the board's snapshot glue: which sections make up the
 * machine, in order, and the rebuild of derived state after a load.
 */
#include "devices/pc_internal.h"

void pc_foreach_state(PcMachine *pc, PcStateFn fn, void *ctx)
{
    fn(ctx, &cpu_state_desc, pc->cpu);
    fn(ctx, &vclock_state, &pc->clk);
    fn(ctx, &pci_bus_state, pc->pci);
    fn(ctx, &i440fx_state, pc->i440fx);
    fn(ctx, &piix3_state, pc->piix3);
    fn(ctx, &piix4_pm_state, pc->pm_dev);
    fn(ctx, &ide_state, pc->ide);
    if (pc->vga)
        fn(ctx, &vga_state, pc->vga);
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
            fn(ctx, &uart16550_state, pc->uart[n]);
    fn(ctx, &fw_cfg_state, pc->fw_cfg);
}
