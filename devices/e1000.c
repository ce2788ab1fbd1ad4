/*
 * e1000.c - Intel 82540EM Gigabit Ethernet controller (see e1000.h).
 *
 * Layout: register file and its side effects; EEPROM (Microwire shifter and
 * EERD); PHY through MDIC; interrupts and moderation timers; receive
 * (filter, descriptors, checksum status); transmit (legacy, context and
 * data descriptors, checksum insertion, TCP segmentation); PCI glue and
 * BAR windows; snapshot.  Section numbers refer to the 8254x SDM rev 4.0.
 */
#include "devices/e1000.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define R(off) ((off) >> 2)            /* register index in regs[] */
#define REG(s, off) ((s)->regs[R(off)])

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static void e1000_logf(E1000 *s, const char *fmt, ...)
{
    if (!s->log)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->log(s->log_opaque, line);
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* RFC 1071 one's complement sum of len bytes (big-endian 16-bit words). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t k = 0;
    for (; k + 1 < len; k += 2)
        sum += (uint32_t)(p[k] << 8 | p[k + 1]);
    if (k < len)
        sum += (uint32_t)p[k] << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

static bool bus_master(const E1000 *s)
{
    return (pci_get_word(s->pci.config + PCI_COMMAND) & PCI_COMMAND_MASTER) != 0;
}

/* Statistics: 32-bit counters stick at all ones (SDM 13.7). */
static void stat_inc(E1000 *s, uint32_t off, uint32_t n)
{
    uint32_t *r = &s->regs[R(off)];
    *r = (*r > UINT32_MAX - n) ? UINT32_MAX : *r + n;
}

/* 64-bit counters: low register at off, high at off + 4. */
static void stat_add64(E1000 *s, uint32_t off, uint64_t n)
{
    uint64_t v = (uint64_t)s->regs[R(off)] | (uint64_t)s->regs[R(off) + 1] << 32;
    v = (v > UINT64_MAX - n) ? UINT64_MAX : v + n;
    s->regs[R(off)] = (uint32_t)v;
    s->regs[R(off) + 1] = (uint32_t)(v >> 32);
}

/* The 64-byte size bins of PRCxx/PTCxx for a frame of len bytes with FCS. */
static uint32_t size_bin(uint32_t base64, size_t len)
{
    if (len <= 64) return base64;
    if (len <= 127) return base64 + 4;
    if (len <= 255) return base64 + 8;
    if (len <= 511) return base64 + 12;
    if (len <= 1023) return base64 + 16;
    return base64 + 20;
}

/* ---------------------------------------------------------------------- */
/* Which offsets are registers (SDM table 13-2)                           */

static const struct { uint16_t off, count, stride; } known_ranges[] = {
    { E1000_CTRL, 1, 4 }, { E1000_STATUS, 1, 4 }, { E1000_EECD, 6, 4 },   /* EECD..MDIC */
    { E1000_FCAL, 3, 4 }, { E1000_VET, 1, 4 },
    { E1000_ICR, 2, 4 }, { E1000_ICS, 1, 8 }, { E1000_IMS, 1, 8 }, { E1000_IMC, 1, 8 },
    { E1000_RCTL, 1, 4 }, { E1000_FCTTV, 1, 4 }, { E1000_TXCW, 1, 4 }, { E1000_RXCW, 1, 4 },
    { E1000_TCTL, 1, 4 }, { E1000_TIPG, 1, 4 }, { 0x0458 /* AIT */, 1, 4 },
    { E1000_LEDCTL, 1, 4 }, { E1000_PBA, 1, 4 },
    { E1000_FCRTL, 1, 4 }, { E1000_FCRTH, 1, 4 }, { E1000_RDFH, 5, 8 },
    { E1000_RDBAL, 3, 4 }, { E1000_RDH, 1, 4 }, { E1000_RDT, 1, 4 }, { E1000_RDTR, 1, 4 },
    { E1000_RXDCTL, 2, 4 }, { E1000_RSRPD, 1, 4 },
    { E1000_TDFH, 5, 8 },
    { E1000_TDBAL, 3, 4 }, { E1000_TDH, 1, 4 }, { E1000_TDT, 1, 4 }, { E1000_TIDV, 1, 4 },
    { E1000_TXDCTL, 3, 4 },                                               /* TXDCTL TADV TSPMT */
    { E1000_CRCERRS, 64, 4 },
    { E1000_RXCSUM, 1, 4 }, { E1000_MTA, 128, 4 }, { E1000_RAL0, 32, 4 }, { E1000_VFTA, 128, 4 },
    { E1000_WUC, 1, 4 }, { E1000_WUFC, 1, 4 }, { E1000_WUS, 1, 4 }, { E1000_MANC, 1, 4 },
    { E1000_IPAV, 1, 4 }, { E1000_IP4AT, 8, 4 }, { E1000_IP6AT, 4, 4 }, { E1000_WUPL, 1, 4 },
    { E1000_WUPM, 32, 4 }, { E1000_FFLT, 4, 8 },
};

static uint8_t known_map[E1000_REG_SPAN / 4];
static bool known_init;

static bool reg_known(uint32_t off)
{
    if (!known_init) {
        for (size_t k = 0; k < sizeof(known_ranges) / sizeof(known_ranges[0]); k++)
            for (uint32_t j = 0; j < known_ranges[k].count; j++) {
                uint32_t o = known_ranges[k].off + j * known_ranges[k].stride;
                if (o < E1000_REG_SPAN)
                    known_map[o >> 2] = 1;
            }
        known_init = true;
    }
    return off < E1000_REG_SPAN && known_map[off >> 2];
}

/* ---------------------------------------------------------------------- */
/* Interrupts and moderation timers (SDM 13.4.17-20, 13.4.44, 3.2.7)      */

static void e1000_drive_irq(E1000 *s, bool level)
{
    if (s->irq_level == level)
        return;
    s->irq_level = level;
    pci_set_irq(&s->pci, level);
}

static void timer_arm(E1000 *s, int t, int64_t when)
{
    s->timer_ns[t] = when;
    vtimer_mod(&s->timers[t], when);
}

static void timer_disarm(E1000 *s, int t)
{
    if (s->timer_ns[t] >= 0 || s->timers[t].pending)
        vtimer_del(&s->timers[t]);
    s->timer_ns[t] = -1;
}

/* INTA follows ICR & IMS; with ITR set, an assertion opens a gap of
 * ITR x 256 ns during which no new assertion happens. */
static void e1000_update_irq(E1000 *s)
{
    bool want = (REG(s, E1000_ICR) & REG(s, E1000_IMS)) != 0;
    if (!want) {
        e1000_drive_irq(s, false);
        return;
    }
    if (s->irq_level)
        return;
    if (s->timer_ns[E1000_T_ITR] >= 0)
        return;                       /* inside the throttling gap */
    uint32_t itr = REG(s, E1000_ITR) & 0xFFFF;
    if (itr && s->clk)
        timer_arm(s, E1000_T_ITR, vclock_now(s->clk) + (int64_t)itr * 256);
    e1000_drive_irq(s, true);
}

static void e1000_set_ics(E1000 *s, uint32_t cause)
{
    REG(s, E1000_ICR) |= cause & E1000_ICR_VALID;
    e1000_update_irq(s);
}

static void itr_timer_cb(void *opaque)
{
    E1000 *s = opaque;
    s->timer_ns[E1000_T_ITR] = -1;
    e1000_update_irq(s);
}

static void rx_delay_cb(void *opaque)
{
    E1000 *s = opaque;
    timer_disarm(s, E1000_T_RDTR);
    timer_disarm(s, E1000_T_RADV);
    e1000_set_ics(s, E1000_ICR_RXT0);
}

static void tx_delay_cb(void *opaque)
{
    E1000 *s = opaque;
    timer_disarm(s, E1000_T_TIDV);
    timer_disarm(s, E1000_T_TADV);
    e1000_set_ics(s, E1000_ICR_TXDW);
}

/* Units of RDTR/RADV/TIDV/TADV: 1.024 us. */
static int64_t delay_ns(uint32_t units) { return (int64_t)(units & 0xFFFF) * 1024; }

/* A frame was stored: RXT0 now, or after the packet/absolute timers. */
static void rx_interrupt(E1000 *s)
{
    uint32_t rdtr = REG(s, E1000_RDTR) & 0xFFFF, radv = REG(s, E1000_RADV) & 0xFFFF;
    if (!rdtr || !s->clk) {
        timer_disarm(s, E1000_T_RDTR);
        timer_disarm(s, E1000_T_RADV);
        e1000_set_ics(s, E1000_ICR_RXT0);
        return;
    }
    int64_t now = vclock_now(s->clk);
    timer_arm(s, E1000_T_RDTR, now + delay_ns(rdtr));
    if (radv && s->timer_ns[E1000_T_RADV] < 0)
        timer_arm(s, E1000_T_RADV, now + delay_ns(radv));
}

/* Descriptors were written back: TXDW now, or after TIDV/TADV if every one
 * of them asked for a delayed interrupt (IDE). */
static void tx_interrupt(E1000 *s, bool delayed)
{
    uint32_t tidv = REG(s, E1000_TIDV) & 0xFFFF, tadv = REG(s, E1000_TADV) & 0xFFFF;
    if (!delayed || !tidv || !s->clk) {
        timer_disarm(s, E1000_T_TIDV);
        timer_disarm(s, E1000_T_TADV);
        e1000_set_ics(s, E1000_ICR_TXDW);
        return;
    }
    int64_t now = vclock_now(s->clk);
    timer_arm(s, E1000_T_TIDV, now + delay_ns(tidv));
    if (tadv && s->timer_ns[E1000_T_TADV] < 0)
        timer_arm(s, E1000_T_TADV, now + delay_ns(tadv));
}

/* ---------------------------------------------------------------------- */
/* EEPROM (SDM 5.3, 5.6 table 5-2)                                        */

/* Build the 64-word image: Ethernet address, IDs, configuration words and
 * the checksum word 0x3F that makes the sum of all words 0xBABA. */
static void eeprom_build(E1000 *s)
{
    uint16_t *w = s->eeprom;
    for (int k = 0; k < E1000_EEPROM_WORDS; k++)
        w[k] = 0xFFFF;                  /* unprogrammed */
    for (int k = 0; k < 3; k++)
        w[k] = (uint16_t)(s->mac[2 * k] | s->mac[2 * k + 1] << 8);
    w[0x03] = 0x0000;                   /* compatibility: no special features */
    w[0x04] = 0xFFFF;                   /* LED configuration: default */
    w[0x05] = 0x0000;                   /* image version */
    w[0x06] = 0x0000;                   /* OEM */
    w[0x07] = 0x0000;
    w[0x08] = 0x3000;                   /* PBA number */
    w[0x09] = 0x1000;
    w[0x0A] = 0x6403;                   /* ICW1: signature 01b, load IDs */
    w[0x0B] = E1000_DEVICE_ID;          /* subsystem ID */
    w[0x0C] = E1000_VENDOR_ID;          /* subsystem vendor ID */
    w[0x0D] = E1000_DEVICE_ID;          /* device ID */
    w[0x0E] = E1000_VENDOR_ID;          /* vendor ID */
    w[0x0F] = 0x3040;                   /* ICW2: symmetric and asymmetric pause */
    w[0x24] = 0x0000;                   /* ICW3 port A: no APM wake-up */
    uint16_t sum = 0;
    for (int k = 0; k < E1000_EEPROM_WORDS - 1; k++)
        sum = (uint16_t)(sum + w[k]);
    w[E1000_EEPROM_WORDS - 1] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

enum { EE_CMD = 0, EE_READ = 1, EE_IGNORE = 2 };

/* Microwire (93C46, 64 x 16 bits): on each rising SK edge with CS high the
 * EEPROM samples DI.  A command is a start bit 1 (leading zeros ignored),
 * a 2-bit opcode and a 6-bit address; READ (10b) then shifts the word out
 * MSB first on DO, one bit per further rising edge (after a dummy 0), and
 * continues with the next word.  Write/erase opcodes are ignored: the
 * EEPROM is write-protected.  CS low ends the command. */
static void eecd_write(E1000 *s, uint32_t val)
{
    uint32_t old = REG(s, E1000_EECD);
    REG(s, E1000_EECD) = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI |
                                E1000_EECD_FWE | E1000_EECD_REQ);
    if (!(val & E1000_EECD_CS)) {
        s->ee_state = EE_CMD;
        s->ee_nbits = 0;
        s->ee_in = 0;
        s->ee_do = true;
        return;
    }
    if (!(old & E1000_EECD_CS)) {       /* chip select rose: a new command */
        s->ee_state = EE_CMD;
        s->ee_nbits = 0;
        s->ee_in = 0;
        s->ee_do = true;
    }
    if (!(val & E1000_EECD_SK) || (old & E1000_EECD_SK))
        return;                          /* not a rising clock edge */
    int di = (val & E1000_EECD_DI) ? 1 : 0;
    switch (s->ee_state) {
    case EE_CMD:
        if (s->ee_nbits == 0 && !di)
            break;                       /* waiting for the start bit */
        s->ee_in = (s->ee_in << 1) | (uint32_t)di;
        if (++s->ee_nbits == 9) {
            unsigned op = (s->ee_in >> 6) & 3;
            if (op == 2) {
                s->ee_state = EE_READ;
                s->ee_addr = (uint8_t)(s->ee_in & 0x3F);
                s->ee_bit = 0;
                s->ee_do = false;        /* the dummy zero */
            } else {
                s->ee_state = EE_IGNORE;
                s->ee_do = true;         /* "ready" */
            }
        }
        break;
    case EE_READ:
        s->ee_do = (s->eeprom[s->ee_addr & 0x3F] >> (15 - s->ee_bit)) & 1;
        if (++s->ee_bit == 16) {
            s->ee_bit = 0;
            s->ee_addr = (uint8_t)((s->ee_addr + 1) & 0x3F);
        }
        break;
    default:
        break;
    }
}

static uint32_t eecd_read(E1000 *s)
{
    uint32_t v = REG(s, E1000_EECD) | E1000_EECD_PRES;
    if (v & E1000_EECD_REQ)
        v |= E1000_EECD_GNT;             /* software always gets the EEPROM */
    if ((v & E1000_EECD_CS) && s->ee_do)
        v |= E1000_EECD_DO;
    return v;
}

/* EERD (SDM 13.4.4): START with an address reads the word at once. */
static void eerd_write(E1000 *s, uint32_t val)
{
    if (!(val & E1000_EERD_START)) {
        REG(s, E1000_EERD) = val & 0xFF00;
        return;
    }
    uint32_t addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xFF;
    uint32_t data = addr < E1000_EEPROM_WORDS ? s->eeprom[addr] : 0;
    REG(s, E1000_EERD) = data << E1000_EERD_DATA_SHIFT | addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE;
}

/* ---------------------------------------------------------------------- */
/* PHY (88E1011) through MDIC (SDM 13.4.7)                                */

static void phy_link_bits(E1000 *s)
{
    uint16_t *p = s->phy;
    if (s->link_up) {
        p[E1000_PHY_STATUS] |= E1000_MII_SR_LINK_STATUS | E1000_MII_SR_AUTONEG_COMPLETE;
        p[E1000_PHY_LP_ABILITY] = 0x45E0;   /* ack, pause, 100/10 full/half */
        p[E1000_PHY_AUTONEG_EXP] = 0x0001;  /* link partner can autonegotiate */
        p[E1000_PHY_1000T_STATUS] = 0x3C00; /* partner 1000 FD/HD, receivers OK */
        p[E1000_M88_SPEC_STATUS] = 0xAC00;  /* 1000 Mb/s, full duplex, resolved, link */
    } else {
        p[E1000_PHY_STATUS] &= (uint16_t)~(E1000_MII_SR_LINK_STATUS | E1000_MII_SR_AUTONEG_COMPLETE);
        p[E1000_PHY_LP_ABILITY] = 0;
        p[E1000_PHY_AUTONEG_EXP] = 0;
        p[E1000_PHY_1000T_STATUS] = 0;
        p[E1000_M88_SPEC_STATUS] = 0;
    }
}

static void phy_reset(E1000 *s)
{
    uint16_t *p = s->phy;
    memset(p, 0, sizeof(s->phy));
    p[E1000_PHY_CTRL] = 0x1140;          /* autoneg enable, full duplex, 1000 Mb/s */
    p[E1000_PHY_STATUS] = 0x7949;        /* capabilities, extended status */
    p[E1000_PHY_ID1] = 0x0141;
    p[E1000_PHY_ID2] = 0x0C20;
    p[E1000_PHY_AUTONEG_ADV] = 0x0DE1;
    p[E1000_PHY_1000T_CTRL] = 0x0E00;
    p[E1000_PHY_EXT_STATUS] = 0x3000;
    p[E1000_M88_SPEC_CTRL] = 0x0360;
    p[E1000_M88_EXT_SPEC_CTRL] = 0x0D60;
    phy_link_bits(s);
}

static bool phy_readable(unsigned reg)
{
    switch (reg) {
    case E1000_PHY_CTRL: case E1000_PHY_STATUS: case E1000_PHY_ID1: case E1000_PHY_ID2:
    case E1000_PHY_AUTONEG_ADV: case E1000_PHY_LP_ABILITY: case E1000_PHY_AUTONEG_EXP:
    case E1000_PHY_1000T_CTRL: case E1000_PHY_1000T_STATUS: case E1000_PHY_EXT_STATUS:
    case E1000_M88_SPEC_CTRL: case E1000_M88_SPEC_STATUS: case E1000_M88_EXT_SPEC_CTRL:
    case E1000_M88_RX_ERR_CNTR: case E1000_M88_PAGE_SELECT: case E1000_M88_GEN_CONTROL:
        return true;
    default:
        return false;
    }
}

static bool phy_writable(unsigned reg)
{
    switch (reg) {
    case E1000_PHY_CTRL: case E1000_PHY_AUTONEG_ADV: case E1000_PHY_1000T_CTRL:
    case E1000_M88_SPEC_CTRL: case E1000_M88_EXT_SPEC_CTRL: case E1000_M88_PAGE_SELECT:
    case E1000_M88_GEN_CONTROL:
        return true;
    default:
        return false;
    }
}

static void phy_write(E1000 *s, unsigned reg, uint16_t val)
{
    if (reg == E1000_PHY_CTRL) {
        if (val & E1000_MII_CR_RESET)
            phy_reset(s);
        /* Reset and restart-autonegotiation are self-clearing; with the
         * cable in, autonegotiation completes at once. */
        s->phy[reg] = val & (uint16_t)~(E1000_MII_CR_RESET | E1000_MII_CR_RESTART_AUTONEG);
        phy_link_bits(s);
        return;
    }
    s->phy[reg] = val;
}

static void mdic_write(E1000 *s, uint32_t val)
{
    unsigned phyaddr = (val >> E1000_MDIC_PHY_SHIFT) & 0x1F;
    unsigned reg = (val >> E1000_MDIC_REG_SHIFT) & 0x1F;
    uint32_t r = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
    uint32_t op = val & (E1000_MDIC_OP_READ | E1000_MDIC_OP_WRITE);
    if (phyaddr != 1) {
        r |= E1000_MDIC_ERROR;
    } else if (op == E1000_MDIC_OP_READ) {
        if (phy_readable(reg))
            r = (r & ~E1000_MDIC_DATA_MASK) | s->phy[reg];
        else
            r |= E1000_MDIC_ERROR;
    } else if (op == E1000_MDIC_OP_WRITE) {
        if (phy_writable(reg))
            phy_write(s, reg, (uint16_t)val);
        else
            r |= E1000_MDIC_ERROR;
    } else {
        r |= E1000_MDIC_ERROR;
    }
    REG(s, E1000_MDIC) = r | E1000_MDIC_READY;
    if (val & E1000_MDIC_INT_EN)
        e1000_set_ics(s, E1000_ICR_MDAC);
}

/* ---------------------------------------------------------------------- */
/* Reset                                                                   */

static void tx_state_clear(E1000 *s)
{
    s->tx_active = false;
    s->tx_tse = false;
    s->tx_bad = false;
    s->tx_popts = 0;
    s->tx_cmd = 0;
    s->tx_len = 0;
    s->tx_seg = 0;
    s->tx_sent = 0;
}

/* The MAC's registers to their power-on values (SDM 13.3 / 13.4 "initial
 * value"); PCI configuration, the PHY and link state are not touched. */
static void mac_reset(E1000 *s)
{
    for (int t = 0; t < E1000_NTIMERS; t++)
        timer_disarm(s, t);
    memset(s->regs, 0, sizeof(s->regs));
    REG(s, E1000_CTRL) = E1000_CTRL_SWDPIN2 | E1000_CTRL_SWDPIN0 | E1000_CTRL_SPD_1000 | E1000_CTRL_SLU;
    REG(s, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_SPEED_1000 | E1000_STATUS_ASDV_1000 |
                           E1000_STATUS_MTXCKOK | E1000_STATUS_GIO_MASTER;
    REG(s, E1000_VET) = 0x8100;
    REG(s, E1000_LEDCTL) = 0x07068302;
    REG(s, E1000_PBA) = 0x00000030;      /* 48 KiB receive, 16 KiB transmit */
    REG(s, E1000_MDIC) = E1000_MDIC_READY;
    /* Address 0 comes from the EEPROM, valid (iPXE reads RAL0/RAH0). */
    REG(s, E1000_RAL0) = (uint32_t)s->mac[0] | (uint32_t)s->mac[1] << 8 |
                         (uint32_t)s->mac[2] << 16 | (uint32_t)s->mac[3] << 24;
    REG(s, E1000_RAH0) = (uint32_t)s->mac[4] | (uint32_t)s->mac[5] << 8 | E1000_RAH_AV;
    s->ioaddr = 0;
    s->ee_state = EE_CMD;
    s->ee_nbits = 0;
    s->ee_in = 0;
    s->ee_addr = 0;
    s->ee_bit = 0;
    s->ee_do = true;
    memset(&s->ctx_csum, 0, sizeof(s->ctx_csum));
    memset(&s->ctx_tso, 0, sizeof(s->ctx_tso));
    tx_state_clear(s);
    e1000_update_irq(s);
}

static void e1000_pci_defaults(E1000 *s)
{
    uint8_t *c = s->pci.config;
    pci_set_word(c + PCI_SUBSYSTEM_VENDOR_ID, 0x1AF4);
    pci_set_word(c + PCI_SUBSYSTEM_ID, 0x1100);
    c[PCI_INTERRUPT_PIN] = 1;            /* INTA# */
}

void e1000_reset(E1000 *s)
{
    if (!s)
        return;
    if (s->pci.bus) {
        pci_device_reset(&s->pci);
        e1000_pci_defaults(s);
    }
    s->irq_level = false;
    mac_reset(s);
    phy_reset(s);
}

static void notify_rx_ready(E1000 *s)
{
    if (s->be && s->be->rx_ready && e1000_can_receive(s, 60))
        s->be->rx_ready(s->be);
}

static void tx_process(E1000 *s);

/* ---------------------------------------------------------------------- */
/* Register file                                                           */

uint32_t e1000_reg_read(E1000 *s, uint32_t off)
{
    off &= (E1000_MMIO_SIZE - 1) & ~3u;
    switch (off) {
    case E1000_STATUS:
        return REG(s, E1000_STATUS) | (s->link_up ? E1000_STATUS_LU : 0);
    case E1000_EECD:
        return eecd_read(s);
    case E1000_ICR: {
        uint32_t v = REG(s, E1000_ICR);
        REG(s, E1000_ICR) = 0;
        e1000_update_irq(s);
        return v;
    }
    case E1000_ICS:
        return REG(s, E1000_ICR);
    case E1000_IMC:
        return 0;
    default:
        break;
    }
    if (off >= E1000_CRCERRS && off < E1000_CRCERRS + 0x100) {
        uint32_t v = s->regs[R(off)];
        switch (off) {
        case E1000_GORCL: case E1000_GOTCL: case E1000_TORL: case E1000_TOTL:
            break;                        /* cleared with the high half */
        case E1000_GORCH: case E1000_GOTCH: case E1000_TORH: case E1000_TOTH:
            s->regs[R(off)] = 0;
            s->regs[R(off) - 1] = 0;
            break;
        default:
            s->regs[R(off)] = 0;
            break;
        }
        return v;
    }
    if (reg_known(off))
        return s->regs[R(off)];
    e1000_logf(s, "e1000: read of unknown register 0x%05x", off);
    return 0;
}

void e1000_reg_write(E1000 *s, uint32_t off, uint32_t val)
{
    off &= (E1000_MMIO_SIZE - 1) & ~3u;
    switch (off) {
    case E1000_CTRL: {
        uint32_t old = REG(s, E1000_CTRL);
        if (val & E1000_CTRL_RST) {       /* global reset, self-clearing */
            mac_reset(s);
            return;
        }
        REG(s, E1000_CTRL) = val;
        if ((old & E1000_CTRL_PHY_RST) && !(val & E1000_CTRL_PHY_RST))
            phy_reset(s);                 /* PHY comes out of reset */
        return;
    }
    case E1000_STATUS:
        return;                           /* read only */
    case E1000_EECD:
        eecd_write(s, val);
        return;
    case E1000_EERD:
        eerd_write(s, val);
        return;
    case E1000_MDIC:
        mdic_write(s, val);
        return;
    case E1000_VET:
        REG(s, off) = val & 0xFFFF;
        return;
    case E1000_ICR:                       /* write 1 to clear */
        REG(s, E1000_ICR) &= ~val;
        e1000_update_irq(s);
        return;
    case E1000_ICS:
        e1000_set_ics(s, val);
        return;
    case E1000_IMS:
        REG(s, E1000_IMS) |= val & E1000_ICR_VALID;
        e1000_update_irq(s);
        return;
    case E1000_IMC:
        REG(s, E1000_IMS) &= ~val;
        e1000_update_irq(s);
        return;
    case E1000_ITR:
        REG(s, off) = val & 0xFFFF;
        return;
    case E1000_RCTL: {
        uint32_t old = REG(s, E1000_RCTL);
        REG(s, off) = val;
        if ((val & E1000_RCTL_EN) && !(old & E1000_RCTL_EN))
            notify_rx_ready(s);
        return;
    }
    case E1000_TCTL:
        REG(s, off) = val;
        tx_process(s);
        return;
    case E1000_RDBAL: case E1000_TDBAL:
        REG(s, off) = val & ~0xFu;        /* 16-byte aligned */
        return;
    case E1000_RDLEN: case E1000_TDLEN:
        REG(s, off) = val & 0x000FFF80u;  /* multiple of 128 bytes */
        return;
    case E1000_RDH: case E1000_TDH:
        REG(s, off) = val & 0xFFFF;
        return;
    case E1000_RDT:
        REG(s, off) = val & 0xFFFF;
        notify_rx_ready(s);
        return;
    case E1000_TDT:
        REG(s, off) = val & 0xFFFF;
        tx_process(s);
        return;
    case E1000_RDTR:
        REG(s, off) = val & 0xFFFF;       /* FPD (bit 31) self-clears ... */
        if ((val & 0x80000000u) && (s->timer_ns[E1000_T_RDTR] >= 0 || s->timer_ns[E1000_T_RADV] >= 0))
            rx_delay_cb(s);               /* ... after flushing the delay */
        return;
    case E1000_TIDV:
        REG(s, off) = val & 0xFFFF;
        if ((val & 0x80000000u) && (s->timer_ns[E1000_T_TIDV] >= 0 || s->timer_ns[E1000_T_TADV] >= 0))
            tx_delay_cb(s);
        return;
    case E1000_RADV: case E1000_TADV:
        REG(s, off) = val & 0xFFFF;
        return;
    default:
        break;
    }
    if (off >= E1000_CRCERRS && off < E1000_CRCERRS + 0x100)
        return;                           /* statistics are read only */
    if (off >= E1000_RAL0 && off < E1000_RAL0 + 0x80 && (off & 4)) {
        REG(s, off) = val & 0x8003FFFFu;  /* RAH: address 47:32, AS, AV */
        return;
    }
    if (reg_known(off)) {
        REG(s, off) = val;
        return;
    }
    e1000_logf(s, "e1000: write of unknown register 0x%05x <- 0x%08x", off, val);
}

/* Value for merging a partial write: plain storage registers only. */
static uint32_t reg_peek(E1000 *s, uint32_t off)
{
    switch (off) {
    case E1000_ICR: case E1000_ICS: case E1000_IMS: case E1000_IMC: case E1000_EERD:
    case E1000_MDIC:
        return 0;
    default:
        return reg_known(off) ? s->regs[R(off)] : 0;
    }
}

/* ---------------------------------------------------------------------- */
/* Receive (SDM 3.2)                                                       */

static uint32_t rx_buf_size(uint32_t rctl)
{
    unsigned bsize = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
    if (rctl & E1000_RCTL_BSEX) {
        static const uint32_t ext[4] = { 2048, 16384, 8192, 4096 }; /* 00 reserved: 2048 */
        return ext[bsize];
    }
    static const uint32_t norm[4] = { 2048, 1024, 512, 256 };
    return norm[bsize];
}

/* The receive ring if it is usable: base (32-bit), size in descriptors,
 * head and tail all valid. */
static bool rx_ring(E1000 *s, uint32_t *base, uint32_t *n, uint32_t *head, uint32_t *tail)
{
    *n = REG(s, E1000_RDLEN) / 16;
    *head = REG(s, E1000_RDH);
    *tail = REG(s, E1000_RDT);
    *base = REG(s, E1000_RDBAL);
    if (REG(s, E1000_RDBAH) != 0 || *n == 0 || *head >= *n || *tail >= *n)
        return false;
    return (uint64_t)*base + (uint64_t)*n * 16 <= 0x100000000ull;
}

static bool rx_enabled(E1000 *s)
{
    return (REG(s, E1000_RCTL) & E1000_RCTL_EN) && s->link_up && bus_master(s);
}

/* Frame bytes stored in the guest for a len-byte frame (padding, FCS). */
static size_t rx_stored_len(E1000 *s, size_t len)
{
    if (len < 60)
        len = 60;
    return len + ((REG(s, E1000_RCTL) & E1000_RCTL_SECRC) ? 0 : 4);
}

bool e1000_can_receive(E1000 *s, size_t len)
{
    uint32_t base, n, head, tail;
    if (!s || !rx_enabled(s) || !rx_ring(s, &base, &n, &head, &tail))
        return false;
    uint32_t bsize = rx_buf_size(REG(s, E1000_RCTL));
    size_t need = (rx_stored_len(s, len) + bsize - 1) / bsize;
    uint32_t avail = (tail + n - head) % n;
    return avail >= need;
}

/* Destination address filter (SDM 3.2.1, 13.4.22 RCTL, 13.5 MTA/RA). */
static bool rx_filter(E1000 *s, const uint8_t *f, size_t len, bool *bcast, bool *mcast)
{
    uint32_t rctl = REG(s, E1000_RCTL);
    static const uint8_t bc[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    *bcast = memcmp(f, bc, 6) == 0;
    *mcast = (f[0] & 1) && !*bcast;
    /* VLAN filter: tagged frames need their VLAN ID in VFTA. */
    if ((rctl & E1000_RCTL_VFE) && len >= 18 && be16(f + 12) == (REG(s, E1000_VET) & 0xFFFF)) {
        unsigned vid = be16(f + 14) & 0xFFF;
        if (!(s->regs[R(E1000_VFTA) + (vid >> 5)] & (1u << (vid & 31))))
            return false;
    }
    if (*bcast && (rctl & E1000_RCTL_BAM))
        return true;
    if ((f[0] & 1) && (rctl & E1000_RCTL_MPE))
        return true;
    if (!(f[0] & 1) && (rctl & E1000_RCTL_UPE))
        return true;
    for (int k = 0; k < 16; k++) {
        uint32_t ral = s->regs[R(E1000_RAL0) + 2 * k], rah = s->regs[R(E1000_RAH0) + 2 * k];
        if (!(rah & E1000_RAH_AV))
            continue;
        uint8_t a[6] = { (uint8_t)ral, (uint8_t)(ral >> 8), (uint8_t)(ral >> 16), (uint8_t)(ral >> 24),
                         (uint8_t)rah, (uint8_t)(rah >> 8) };
        if (!memcmp(a, f, 6))
            return true;
    }
    if (*mcast) {
        /* MTA hash: 12 bits of the address picked by RCTL.MO. */
        unsigned mo = (rctl >> E1000_RCTL_MO_SHIFT) & 3;
        unsigned h = ((unsigned)f[4] >> (4 - mo) | (unsigned)f[5] << (4 + mo)) & 0xFFF;
        if (s->regs[R(E1000_MTA) + (h >> 5)] & (1u << (h & 31)))
            return true;
    }
    return false;
}

/* Receive checksum status (SDM 3.2.9): IPv4 header checksum (IPOFL) and
 * TCP/UDP checksum over IPv4 (TUOFL), for unfragmented packets. */
static void rx_checksum(E1000 *s, const uint8_t *f, size_t len, uint8_t *status, uint8_t *err)
{
    uint32_t rxcsum = REG(s, E1000_RXCSUM);
    if (!(rxcsum & (E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL))) {
        *status |= E1000_RXD_STAT_IXSM;
        return;
    }
    if (len < 14 + 20 || be16(f + 12) != 0x0800)
        return;
    const uint8_t *ip = f + 14;
    size_t ihl = (size_t)(ip[0] & 0xF) * 4;
    size_t tot = be16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || 14 + tot > len)
        return;
    if (rxcsum & E1000_RXCSUM_IPOFL) {
        *status |= E1000_RXD_STAT_IPCS;
        if (csum_fold(csum_add(0, ip, ihl)) != 0xFFFF)
            *err |= E1000_RXD_ERR_IPE;
    }
    if (!(rxcsum & E1000_RXCSUM_TUOFL) || (be16(ip + 6) & 0x3FFF))
        return;                           /* offload off, or a fragment */
    uint8_t proto = ip[9];
    size_t l4len = tot - ihl;
    const uint8_t *l4 = ip + ihl;
    if (proto == 6 && l4len >= 20) {
    } else if (proto == 17 && l4len >= 8) {
        if (be16(l4 + 6) == 0)
            return;                       /* UDP without checksum */
    } else {
        return;
    }
    uint32_t sum = csum_add(0, ip + 12, 8);
    sum += proto;
    sum += (uint32_t)l4len;
    sum = csum_add(sum, l4, l4len);
    *status |= E1000_RXD_STAT_TCPCS;
    if (csum_fold(sum) != 0xFFFF)
        *err |= E1000_RXD_ERR_TCPE;
}

size_t e1000_receive(E1000 *s, const uint8_t *frame, size_t len)
{
    uint8_t buf[NETDEV_MAX_FRAME + 64];
    uint32_t base, n, head, tail;
    size_t orig_len = len;
    if (!s || !frame)
        return 0;
    if (len < 14 || len > NETDEV_MAX_FRAME)
        return len;                       /* not a frame we could carry */
    if (!rx_enabled(s))
        return 0;
    uint32_t rctl = REG(s, E1000_RCTL);
    bool bcast, mcast;
    if (!rx_filter(s, frame, len, &bcast, &mcast))
        return len;
    memcpy(buf, frame, len);
    /* Size limit without LPE: 1518 bytes with FCS (1522 tagged). */
    bool tagged = be16(buf + 12) == (REG(s, E1000_VET) & 0xFFFF);
    if (!(rctl & E1000_RCTL_LPE) && len + 4 > 1518u + (tagged ? 4 : 0)) {
        stat_inc(s, E1000_ROC, 1);
        return orig_len;
    }
    /* VLAN tag stripping (CTRL.VME): the TCI goes to the descriptor. */
    bool vp = false;
    uint16_t vtag = 0;
    if (tagged && (REG(s, E1000_CTRL) & E1000_CTRL_VME) && len >= 18) {
        vtag = be16(buf + 14);
        memmove(buf + 12, buf + 16, len - 16);
        len -= 4;
        vp = true;
    }
    size_t flen = len;                    /* frame on the wire, without FCS */
    if (flen < 60) {
        memset(buf + flen, 0, 60 - flen);
        flen = 60;
    }
    size_t total = flen;
    if (!(rctl & E1000_RCTL_SECRC)) {     /* the FCS is stored too */
        uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)flen);
        buf[total++] = (uint8_t)crc;
        buf[total++] = (uint8_t)(crc >> 8);
        buf[total++] = (uint8_t)(crc >> 16);
        buf[total++] = (uint8_t)(crc >> 24);
    }

    uint32_t bsize = rx_buf_size(rctl);
    uint32_t need = (uint32_t)((total + bsize - 1) / bsize);
    if (!rx_ring(s, &base, &n, &head, &tail) || (tail + n - head) % n < need) {
        stat_inc(s, E1000_RNBC, 1);
        stat_inc(s, E1000_MPC, 1);
        e1000_set_ics(s, E1000_ICR_RXO);
        return 0;
    }
    /* Fetch the descriptors first: a ring outside RAM drops the frame
     * before anything is written. */
    uint8_t desc[NETDEV_MAX_FRAME / 256 + 2][16];
    for (uint32_t k = 0; k < need; k++) {
        uint32_t idx = (head + k) % n;
        if (phys_dma_read(s->pm, base + idx * 16, desc[k], 16) < 0) {
            e1000_logf(s, "e1000: receive descriptor %u at 0x%08x is not in RAM", idx, base + idx * 16);
            stat_inc(s, E1000_MPC, 1);
            return orig_len;
        }
    }
    uint8_t status = E1000_RXD_STAT_EOP, err = 0;
    rx_checksum(s, buf, flen, &status, &err);
    uint16_t pcsum = 0;
    {
        size_t pcss = REG(s, E1000_RXCSUM) & E1000_RXCSUM_PCSS_MASK;
        if (pcss < flen)
            pcsum = csum_fold(csum_add(0, buf + pcss, flen - pcss));
    }
    bool fault = false;
    size_t off = 0;
    for (uint32_t k = 0; k < need; k++) {
        size_t chunk = total - off < bsize ? total - off : bsize;
        uint64_t addr = le64(desc[k]);
        if (addr == 0 || addr >> 32 || phys_dma_write(s->pm, (uint32_t)addr, buf + off, chunk) < 0) {
            if (!fault)
                e1000_logf(s, "e1000: receive buffer 0x%llx is not in RAM", (unsigned long long)addr);
            fault = true;
        }
        off += chunk;
        uint8_t wb[8];
        bool last = k == need - 1;
        put_le16(wb, (uint16_t)chunk);
        put_le16(wb + 2, last ? pcsum : 0);
        wb[4] = (uint8_t)(E1000_RXD_STAT_DD | (last ? status | (vp ? E1000_RXD_STAT_VP : 0) : 0));
        wb[5] = (uint8_t)((last ? err : 0) | (fault ? E1000_RXD_ERR_RXE : 0));
        put_le16(wb + 6, last && vp ? vtag : 0);
        uint32_t idx = (head + k) % n;
        phys_dma_write(s->pm, base + idx * 16 + 8, wb, 8);
    }
    head = (head + need) % n;
    REG(s, E1000_RDH) = head;

    size_t wire = flen + 4;
    stat_inc(s, E1000_TPR, 1);
    stat_add64(s, E1000_TORL, wire);
    if (!fault) {
        stat_inc(s, E1000_GPRC, 1);
        stat_add64(s, E1000_GORCL, wire);
        stat_inc(s, size_bin(E1000_PRC64, wire), 1);
        if (bcast)
            stat_inc(s, E1000_BPRC, 1);
        else if (mcast)
            stat_inc(s, E1000_MPRC, 1);
    }
    /* Descriptor minimum threshold: free descriptors at or below
     * RDLEN / 2^(RDMTS+1). */
    uint32_t rdmts = (rctl >> E1000_RCTL_RDMTS_SHIFT) & 3;
    uint32_t cause = 0;
    if (rdmts < 3 && (tail + n - head) % n <= n >> (rdmts + 1))
        cause |= E1000_ICR_RXDMT0;
    if (cause)
        e1000_set_ics(s, cause);
    rx_interrupt(s);
    return orig_len;
}

/* ---------------------------------------------------------------------- */
/* Transmit (SDM 3.3)                                                      */

/* Store the one's complement checksum of bytes [css, cse] (cse 0: to the
 * end) at cso, starting from what the field holds (the driver's
 * pseudo-header sum or 0).  0 is sent as 0xFFFF. */
static void insert_csum(uint8_t *p, size_t len, unsigned css, unsigned cse, unsigned cso)
{
    if (css >= len || (size_t)cso + 2 > len)
        return;
    size_t end = cse ? (size_t)cse + 1 : len;
    if (end > len)
        end = len;
    if (end <= css)
        return;
    uint16_t v = (uint16_t)~csum_fold(csum_add(0, p + css, end - css));
    put_be16(p + cso, v ? v : 0xFFFF);
}

static void tx_send(E1000 *s, uint8_t *p, size_t len)
{
    size_t out_len = len;
    uint8_t *out = p;
    /* VLAN tag insertion (VLE with CTRL.VME). */
    if (s->tx_vle && (REG(s, E1000_CTRL) & E1000_CTRL_VME) && len >= 12 &&
        len + 4 <= sizeof(s->tx_out)) {
        memcpy(s->tx_out, p, 12);
        put_be16(s->tx_out + 12, (uint16_t)REG(s, E1000_VET));
        put_be16(s->tx_out + 14, s->tx_vlan);
        memcpy(s->tx_out + 16, p + 12, len - 12);
        out = s->tx_out;
        out_len = len + 4;
    }
    if (out_len < 60 && (REG(s, E1000_TCTL) & E1000_TCTL_PSP)) {
        if (out != s->tx_out) {
            memcpy(s->tx_out, out, out_len);
            out = s->tx_out;
        }
        memset(out + out_len, 0, 60 - out_len);
        out_len = 60;
    }
    if (!s->link_up || out_len < 14)
        return;
    netdev_send(s->be, out, out_len);
    size_t wire = (out_len < 60 ? 60 : out_len) + 4;
    stat_inc(s, E1000_GPTC, 1);
    stat_inc(s, E1000_TPT, 1);
    stat_add64(s, E1000_GOTCL, wire);
    stat_add64(s, E1000_TOTL, wire);
    stat_inc(s, size_bin(E1000_PTC64, wire), 1);
    static const uint8_t bc[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    if (!memcmp(out, bc, 6))
        stat_inc(s, E1000_BPTC, 1);
    else if (out[0] & 1)
        stat_inc(s, E1000_MPTC, 1);
}

/* One TSO segment from tx_buf (header + up to MSS payload) (SDM 3.5.5). */
static void tso_emit(E1000 *s, bool last)
{
    E1000TxContext *c = &s->ctx_tso;
    uint8_t *p = s->tx_buf;
    size_t len = s->tx_len;
    size_t hdrlen = c->hdrlen;
    size_t payload = len > hdrlen ? len - hdrlen : 0;
    if (c->tucmd & E1000_TXD_TUCMD_IP) {
        if ((size_t)c->ipcss + 6 <= len && c->ipcss + 6u <= hdrlen) {
            put_be16(p + c->ipcss + 2, (uint16_t)(len - c->ipcss));
            put_be16(p + c->ipcss + 4, (uint16_t)(be16(s->tx_hdr + c->ipcss + 4) + s->tx_seg));
        }
    } else if ((size_t)c->ipcss + 6 <= len && c->ipcss + 6u <= hdrlen && len >= (size_t)c->ipcss + 40) {
        put_be16(p + c->ipcss + 4, (uint16_t)(len - c->ipcss - 40));   /* IPv6 payload length */
    }
    if (c->tucmd & E1000_TXD_TUCMD_TCP) {
        if ((size_t)c->tucss + 14 <= len && c->tucss + 14u <= hdrlen) {
            put_be32(p + c->tucss + 4, be32(s->tx_hdr + c->tucss + 4) + s->tx_sent);
            if (!last)
                p[c->tucss + 13] &= (uint8_t)~0x09;   /* FIN and PSH only on the last */
        }
    } else if ((size_t)c->tucss + 6 <= len && c->tucss + 6u <= hdrlen) {
        put_be16(p + c->tucss + 4, (uint16_t)(len - c->tucss));           /* UDP length */
    }
    if (s->tx_popts & E1000_TXD_POPTS_IXSM)
        insert_csum(p, len, c->ipcss, c->ipcse, c->ipcso);
    if ((s->tx_popts & E1000_TXD_POPTS_TXSM) && (size_t)c->tucso + 2 <= len && c->tucss < len) {
        /* The driver's pseudo-header sum has no length: add this segment's. */
        uint32_t ph = (uint32_t)be16(p + c->tucso) + (uint32_t)(len - c->tucss);
        put_be16(p + c->tucso, csum_fold(ph));
        insert_csum(p, len, c->tucss, c->tucse, c->tucso);
    }
    tx_send(s, p, len);
    s->tx_seg++;
    s->tx_sent += (uint32_t)payload;
}

/* Append len bytes of guest memory at addr to the frame in progress. */
static void tx_append(E1000 *s, uint64_t addr, uint32_t len)
{
    if (s->tx_bad || len == 0)
        return;
    if (!s->tx_tse) {
        if ((size_t)s->tx_len + len > sizeof(s->tx_buf) || addr >> 32 ||
            phys_dma_read(s->pm, (uint32_t)addr, s->tx_buf + s->tx_len, len) < 0) {
            e1000_logf(s, "e1000: transmit buffer 0x%llx+%u not in RAM or frame too long",
                       (unsigned long long)addr, len);
            s->tx_bad = true;
            return;
        }
        s->tx_len += len;
        return;
    }
    size_t hdrlen = s->ctx_tso.hdrlen, mss = s->ctx_tso.mss;
    if (mss == 0 || hdrlen + mss > sizeof(s->tx_buf) || s->tx_len > hdrlen + mss) {
        s->tx_bad = true;
        return;
    }
    while (len) {
        size_t room = s->tx_len < hdrlen ? hdrlen - s->tx_len : hdrlen + mss - s->tx_len;
        uint32_t chunk = len < room ? len : (uint32_t)room;
        if (addr >> 32 || (uint64_t)addr + chunk > 0x100000000ull ||
            phys_dma_read(s->pm, (uint32_t)addr, s->tx_buf + s->tx_len, chunk) < 0) {
            e1000_logf(s, "e1000: transmit buffer 0x%llx+%u not in RAM", (unsigned long long)addr, chunk);
            s->tx_bad = true;
            return;
        }
        bool was_hdr = s->tx_len < hdrlen;
        s->tx_len += chunk;
        addr += chunk;
        len -= chunk;
        if (was_hdr && s->tx_len == hdrlen)
            memcpy(s->tx_hdr, s->tx_buf, hdrlen);
        if (s->tx_len == hdrlen + mss) {
            tso_emit(s, false);
            memcpy(s->tx_buf, s->tx_hdr, hdrlen);
            s->tx_len = (uint32_t)hdrlen;
        }
    }
}

/* End of a frame (EOP): checksums and send, or TSO's last segment. */
static void tx_finish(E1000 *s)
{
    if (s->tx_bad) {
        if (s->tx_tse)
            stat_inc(s, E1000_TSCTFC, 1);
    } else if (s->tx_tse) {
        if (s->tx_len > s->ctx_tso.hdrlen || s->tx_seg == 0)
            tso_emit(s, true);
        stat_inc(s, E1000_TSCTC, 1);
    } else {
        uint8_t *p = s->tx_buf;
        size_t len = s->tx_len;
        E1000TxContext *c = &s->ctx_csum;
        if (s->tx_cmd & E1000_TXD_CMD_DEXT) {
            if (s->tx_popts & E1000_TXD_POPTS_IXSM)
                insert_csum(p, len, c->ipcss, c->ipcse, c->ipcso);
            if (s->tx_popts & E1000_TXD_POPTS_TXSM)
                insert_csum(p, len, c->tucss, c->tucse, c->tucso);
        } else if (s->tx_cmd & E1000_TXD_CMD_IC) {
            insert_csum(p, len, s->tx_lcss, 0, s->tx_lcso);
        }
        tx_send(s, p, len);
    }
    tx_state_clear(s);
}

/* Process one descriptor; returns true if it is to be written back (RS). */
static bool tx_descriptor(E1000 *s, const uint8_t *d, bool *ide)
{
    uint64_t addr = le64(d);
    uint32_t lower = le32(d + 8), upper = le32(d + 12);
    uint8_t cmd = (uint8_t)(lower >> 24);
    bool rs = (cmd & (E1000_TXD_CMD_RS | E1000_TXD_CMD_RPS)) != 0;
    *ide = (cmd & E1000_TXD_CMD_IDE) != 0;
    if (cmd & E1000_TXD_CMD_DEXT) {
        unsigned dtyp = (lower >> 20) & 0xF;
        if (dtyp == E1000_TXD_DTYP_CTX) {
            E1000TxContext c;
            c.ipcss = d[0];
            c.ipcso = d[1];
            c.ipcse = le16(d + 2);
            c.tucss = d[4];
            c.tucso = d[5];
            c.tucse = le16(d + 6);
            c.paylen = lower & 0xFFFFF;
            c.tucmd = cmd;
            c.hdrlen = d[13];
            c.mss = le16(d + 14);
            if (cmd & E1000_TXD_TUCMD_TSE)
                s->ctx_tso = c;
            else
                s->ctx_csum = c;
            return rs;
        }
        if (dtyp != E1000_TXD_DTYP_DATA)
            return rs;                    /* reserved type: skipped */
        if (!s->tx_active) {
            s->tx_active = true;
            s->tx_cmd = cmd;
            s->tx_tse = (cmd & E1000_TXD_CMD_TSE) != 0;
            s->tx_popts = (uint8_t)(upper >> 8);
            s->tx_len = 0;
            s->tx_seg = 0;
            s->tx_sent = 0;
        }
        tx_append(s, addr, lower & 0xFFFFF);
    } else {
        if (!s->tx_active) {
            s->tx_active = true;
            s->tx_cmd = cmd;
            s->tx_tse = false;
            s->tx_popts = 0;
            s->tx_len = 0;
        }
        if (cmd & E1000_TXD_CMD_IC) {       /* legacy checksum: CSS/CSO */
            s->tx_lcso = (uint8_t)(lower >> 16);
            s->tx_lcss = (uint8_t)(upper >> 8);
            s->tx_cmd |= E1000_TXD_CMD_IC;
        }
        tx_append(s, addr, lower & 0xFFFF);
    }
    if (cmd & E1000_TXD_CMD_EOP) {
        s->tx_vle = (cmd & E1000_TXD_CMD_VLE) != 0;
        s->tx_vlan = (uint16_t)(upper >> 16);
        tx_finish(s);
    }
    return rs;
}

static bool tx_ring(E1000 *s, uint32_t *base, uint32_t *n, uint32_t *head, uint32_t *tail)
{
    *n = REG(s, E1000_TDLEN) / 16;
    *head = REG(s, E1000_TDH);
    *tail = REG(s, E1000_TDT);
    *base = REG(s, E1000_TDBAL);
    if (REG(s, E1000_TDBAH) != 0 || *n == 0 || *head >= *n || *tail >= *n)
        return false;
    return (uint64_t)*base + (uint64_t)*n * 16 <= 0x100000000ull;
}

static void tx_process(E1000 *s)
{
    uint32_t base, n, head, tail;
    if (!(REG(s, E1000_TCTL) & E1000_TCTL_EN) || !bus_master(s) || !tx_ring(s, &base, &n, &head, &tail))
        return;
    if (s->in_tx)
        return;                           /* re-entered from the backend */
    s->in_tx = true;
    bool wrote = false, all_ide = true;
    uint32_t budget = n;
    while (head != tail && budget--) {
        uint8_t d[16];
        uint32_t daddr = base + head * 16;
        if (phys_dma_read(s->pm, daddr, d, 16) < 0) {
            e1000_logf(s, "e1000: transmit descriptor %u at 0x%08x is not in RAM", head, daddr);
            break;                        /* the ring stops here */
        }
        bool ide;
        if (tx_descriptor(s, d, &ide)) {
            uint8_t sta = (uint8_t)((d[12] & 0xF0) | E1000_TXD_STAT_DD);
            phys_dma_write(s->pm, daddr + 12, &sta, 1);
            wrote = true;
            all_ide = all_ide && ide;
        }
        head = (head + 1) % n;
        REG(s, E1000_TDH) = head;
    }
    s->in_tx = false;
    if (head == tail)
        REG(s, E1000_ICR) |= E1000_ICR_TXQE;
    if (wrote)
        tx_interrupt(s, all_ide);
    else
        e1000_update_irq(s);
}

/* ---------------------------------------------------------------------- */
/* Link                                                                    */

void e1000_set_link(E1000 *s, bool up)
{
    if (!s || s->link_up == up)
        return;
    s->link_up = up;
    phy_link_bits(s);
    e1000_set_ics(s, E1000_ICR_LSC);
    if (up)
        notify_rx_ready(s);
}

/* ---------------------------------------------------------------------- */
/* BAR windows                                                             */

static uint32_t mmio_read(void *opaque, uint32_t off, unsigned size)
{
    E1000 *s = opaque;
    uint32_t v = e1000_reg_read(s, off & ~3u);
    if (size >= 4)
        return v;
    v >>= 8 * (off & 3);
    return size == 2 ? (v & 0xFFFF) : (v & 0xFF);
}

static void mmio_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    E1000 *s = opaque;
    uint32_t aligned = off & ~3u & (E1000_MMIO_SIZE - 1);
    if (size >= 4 && !(off & 3)) {
        e1000_reg_write(s, aligned, val);
        return;
    }
    unsigned sh = 8 * (off & 3);
    uint32_t mask = (size == 2 ? 0xFFFFu : 0xFFu) << sh;
    uint32_t cur = reg_peek(s, aligned);
    e1000_reg_write(s, aligned, (cur & ~mask) | ((val << sh) & mask));
}

static const MmioOps e1000_mmio_ops = { mmio_read, mmio_write };

/* BAR1: IOADDR (+0) selects a register, IODATA (+4) accesses it. */
static uint32_t io_read(void *opaque, uint32_t off, unsigned size)
{
    E1000 *s = opaque;
    uint32_t v;
    if (off < 4)
        v = s->ioaddr;
    else if (off < 8)
        v = e1000_reg_read(s, s->ioaddr & 0x1FFFC);
    else
        return 0;
    v >>= 8 * (off & 3);
    return size >= 4 ? v : size == 2 ? (v & 0xFFFF) : (v & 0xFF);
}

static void io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    E1000 *s = opaque;
    unsigned sh = 8 * (off & 3);
    uint32_t mask = size >= 4 ? 0xFFFFFFFFu : (size == 2 ? 0xFFFFu : 0xFFu) << sh;
    if (off < 4) {
        s->ioaddr = (s->ioaddr & ~mask) | ((val << sh) & mask);
        s->ioaddr &= 0x1FFFF;
    } else if (off < 8) {
        uint32_t reg = s->ioaddr & 0x1FFFC;
        if (mask == 0xFFFFFFFFu)
            e1000_reg_write(s, reg, val);
        else
            e1000_reg_write(s, reg, (reg_peek(s, reg) & ~mask) | ((val << sh) & mask));
    }
}

static const IoOps e1000_io_ops = { io_read, io_write, 4 };

static void e1000_bar_map(PciDevice *dev, int bar, int64_t addr)
{
    E1000 *s = dev->opaque;
    if (bar == 0) {
        if (s->mmio_base != PCI_BAR_UNMAPPED && s->pm)
            phys_unmap(s->pm, (uint32_t)s->mmio_base, E1000_MMIO_SIZE);
        s->mmio_base = PCI_BAR_UNMAPPED;
        if (addr == PCI_BAR_UNMAPPED || addr < 0 || (uint64_t)addr + E1000_MMIO_SIZE > 0x100000000ull || !s->pm)
            return;
        if (phys_map_mmio(s->pm, (uint32_t)addr, E1000_MMIO_SIZE, &e1000_mmio_ops, s, "e1000") == 0)
            s->mmio_base = addr;
    } else if (bar == 1) {
        if (s->io_base != PCI_BAR_UNMAPPED && s->io)
            iobus_unregister(s->io, (uint16_t)s->io_base, E1000_IO_SIZE);
        s->io_base = PCI_BAR_UNMAPPED;
        if (addr == PCI_BAR_UNMAPPED || addr < 0 || addr + E1000_IO_SIZE > 0x10000 || !s->io)
            return;
        if (iobus_register(s->io, (uint16_t)addr, E1000_IO_SIZE, &e1000_io_ops, s, "e1000-io") == 0)
            s->io_base = addr;
    }
}

/* ---------------------------------------------------------------------- */
/* Construction                                                            */

static bool nic_can_receive_cb(void *nic, size_t len) { return e1000_can_receive(nic, len); }
static size_t nic_receive_cb(void *nic, const uint8_t *f, size_t len) { return e1000_receive(nic, f, len); }

E1000 *e1000_new(PciBus *bus, int devfn, PhysMem *pm, IoBus *io, VClock *clk,
                 const uint8_t mac[6], NetBackend *be)
{
    E1000 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pm = pm;
    s->io = io;
    s->clk = clk;
    s->be = be;
    s->mmio_base = PCI_BAR_UNMAPPED;
    s->io_base = PCI_BAR_UNMAPPED;
    static const uint8_t def_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    memcpy(s->mac, mac ? mac : def_mac, 6);
    s->link_up = true;
    for (int t = 0; t < E1000_NTIMERS; t++)
        s->timer_ns[t] = -1;
    if (clk) {
        vtimer_init(&s->timers[E1000_T_RDTR], clk, rx_delay_cb, s);
        vtimer_init(&s->timers[E1000_T_RADV], clk, rx_delay_cb, s);
        vtimer_init(&s->timers[E1000_T_TIDV], clk, tx_delay_cb, s);
        vtimer_init(&s->timers[E1000_T_TADV], clk, tx_delay_cb, s);
        vtimer_init(&s->timers[E1000_T_ITR], clk, itr_timer_cb, s);
    }
    if (bus) {
        if (pci_device_init(&s->pci, bus, devfn, E1000_VENDOR_ID, E1000_DEVICE_ID, E1000_REVISION,
                            0x020000, 0x00) < 0) {
            free(s);
            return NULL;
        }
        s->pci.name = "e1000";
        pci_register_bar(&s->pci, 0, E1000_MMIO_SIZE, false, e1000_bar_map);
        pci_register_bar(&s->pci, 1, E1000_IO_SIZE, true, e1000_bar_map);
    }
    s->pci.opaque = s;
    eeprom_build(s);
    e1000_reset(s);
    if (be) {
        be->nic = s;
        be->nic_can_receive = nic_can_receive_cb;
        be->nic_receive = nic_receive_cb;
    }
    return s;
}

void e1000_free(E1000 *s)
{
    if (!s)
        return;
    for (int t = 0; t < E1000_NTIMERS; t++)
        timer_disarm(s, t);
    if (s->pci.bus)
        pci_device_free(&s->pci);         /* unmaps both BARs */
    if (s->mmio_base != PCI_BAR_UNMAPPED && s->pm)
        phys_unmap(s->pm, (uint32_t)s->mmio_base, E1000_MMIO_SIZE);
    if (s->io_base != PCI_BAR_UNMAPPED && s->io)
        iobus_unregister(s->io, (uint16_t)s->io_base, E1000_IO_SIZE);
    if (s->be && s->be->nic == s) {
        s->be->nic = NULL;
        s->be->nic_can_receive = NULL;
        s->be->nic_receive = NULL;
    }
    free(s);
}

/* ---------------------------------------------------------------------- */
/* Snapshot                                                                */

static int e1000_post_load(void *opaque, char *err, size_t errlen)
{
    E1000 *s = opaque;
    if (s->ee_state > EE_IGNORE || s->ee_bit > 15 || s->ee_nbits > 9 || s->ee_addr >= E1000_EEPROM_WORDS) {
        snprintf(err, errlen, "e1000: EEPROM shifter state out of range");
        return -1;
    }
    if (s->tx_len > sizeof(s->tx_buf)) {
        snprintf(err, errlen, "e1000: transmit frame length %u out of range", s->tx_len);
        return -1;
    }
    if (s->tx_tse && s->tx_len > (uint32_t)s->ctx_tso.hdrlen + s->ctx_tso.mss)
        s->tx_bad = true;                 /* inconsistent: drop that frame */
    s->ioaddr &= 0x1FFFF;
    s->in_tx = false;
    if (s->pci.bus) {
        pci_device_post_load(&s->pci);
        e1000_pci_defaults(s);
    }
    s->irq_level = (pci_get_word(s->pci.config + PCI_STATUS) & PCI_STATUS_INTERRUPT) != 0;
    for (int t = 0; t < E1000_NTIMERS; t++) {
        if (s->clk && s->timer_ns[t] >= 0)
            vtimer_mod(&s->timers[t], s->timer_ns[t]);
        else {
            if (s->clk)
                vtimer_del(&s->timers[t]);
            s->timer_ns[t] = -1;
        }
    }
    return 0;
}

#define ST_CTX(c)                                                                \
    ST_U8(c.ipcss, E1000), ST_U8(c.ipcso, E1000), ST_U16(c.ipcse, E1000),       \
    ST_U8(c.tucss, E1000), ST_U8(c.tucso, E1000), ST_U16(c.tucse, E1000),       \
    ST_U32(c.paylen, E1000), ST_U8(c.tucmd, E1000), ST_U8(c.hdrlen, E1000),     \
    ST_U16(c.mss, E1000)

static const StateField e1000_fields[] = {
    ST_U32_ARRAY(regs, E1000),
    ST_U16_ARRAY(eeprom, E1000),
    ST_U16_ARRAY(phy, E1000),
    ST_BOOL(link_up, E1000),
    ST_BOOL(irq_level, E1000),
    ST_U32(ioaddr, E1000),
    ST_U32(ee_in, E1000),
    ST_U8(ee_nbits, E1000),
    ST_U8(ee_state, E1000),
    ST_U8(ee_addr, E1000),
    ST_U8(ee_bit, E1000),
    ST_BOOL(ee_do, E1000),
    ST_CTX(ctx_csum),
    ST_CTX(ctx_tso),
    ST_BOOL(tx_active, E1000),
    ST_U8(tx_popts, E1000),
    ST_U8(tx_cmd, E1000),
    ST_U8(tx_lcss, E1000),
    ST_U8(tx_lcso, E1000),
    ST_BOOL(tx_tse, E1000),
    ST_BOOL(tx_bad, E1000),
    ST_BOOL(tx_vle, E1000),
    ST_U16(tx_vlan, E1000),
    ST_U32(tx_len, E1000),
    ST_U32(tx_seg, E1000),
    ST_U32(tx_sent, E1000),
    ST_U8_ARRAY(tx_hdr, E1000),
    ST_U8_ARRAY(tx_buf, E1000),
    ST_I64_ARRAY(timer_ns, E1000),
    ST_BYTES(pci.config, E1000),
    ST_END,
};

const StateDesc e1000_state = {
    .name = "e1000",
    .version = 1,
    .min_version = 1,
    .fields = e1000_fields,
    .post_load = e1000_post_load,
};
