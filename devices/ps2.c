/*
 * ps2.c - PS/2 keyboard (MF2, scan code sets 1/2/3) and mouse (standard
 * 3-byte protocol, IntelliMouse wheel), see ps2.h.
 *
 * Command sets from the IBM PS/2 Hardware Interface Technical Reference
 * ("Keyboard/Auxiliary Device" chapters) and Microsoft's IntelliMouse
 * detection sequence (sample rates 200, 100, 80 then ID 3).
 */
#include "devices/ps2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keyboard commands. */
#define KBD_CMD_SET_LEDS     0xED
#define KBD_CMD_ECHO         0xEE
#define KBD_CMD_SCANCODE     0xF0
#define KBD_CMD_GET_ID       0xF2
#define KBD_CMD_TYPEMATIC    0xF3
#define KBD_CMD_ENABLE       0xF4
#define KBD_CMD_DISABLE      0xF5
#define KBD_CMD_DEFAULTS     0xF6
#define KBD_CMD_SET_ALL_T    0xF7 /* set 3: all keys typematic */
#define KBD_CMD_SET_ALL_MBR  0xFA /* set 3: all keys make/break/typematic */
#define KBD_CMD_SET_KEY_T    0xFB /* set 3: per-key type, list follows */
#define KBD_CMD_SET_KEY_MB   0xFC
#define KBD_CMD_SET_KEY_M    0xFD
#define KBD_CMD_RESEND       0xFE
#define KBD_CMD_RESET        0xFF

#define KBD_DEFAULT_TYPEMATIC 0x2B /* 10.9 chars/s, 500 ms delay */

/* Mouse commands. */
#define MOUSE_CMD_SCALE_1_1   0xE6
#define MOUSE_CMD_SCALE_2_1   0xE7
#define MOUSE_CMD_SET_RES     0xE8
#define MOUSE_CMD_STATUS      0xE9
#define MOUSE_CMD_STREAM      0xEA
#define MOUSE_CMD_READ_DATA   0xEB
#define MOUSE_CMD_RESET_WRAP  0xEC
#define MOUSE_CMD_WRAP        0xEE
#define MOUSE_CMD_REMOTE      0xF0
#define MOUSE_CMD_GET_ID      0xF2
#define MOUSE_CMD_SET_RATE    0xF3
#define MOUSE_CMD_ENABLE      0xF4
#define MOUSE_CMD_DISABLE     0xF5
#define MOUSE_CMD_DEFAULTS    0xF6
#define MOUSE_CMD_RESEND      0xFE
#define MOUSE_CMD_RESET       0xFF

/* Mouse status byte (reply to 0xE9, byte 1) bits we keep in `mode`. */
#define MOUSE_STAT_REMOTE  0x40
#define MOUSE_STAT_ENABLED 0x20
#define MOUSE_STAT_SCALE21 0x10

#define MOUSE_ACCUM_MAX (1 << 20)

struct PS2Kbd {
    PS2Queue q;
    uint8_t scancode_set;  /* 1, 2 or 3 */
    uint8_t leds;          /* 0xED argument, bits 2-0 */
    uint8_t typematic;     /* 0xF3 argument */
    uint8_t pending_cmd;   /* command waiting for its argument, or 0 */
    uint8_t last_tx;       /* last byte sent to the controller (0xFE) */
    bool enabled;          /* scanning */
    bool overrun;          /* overrun code queued since the queue was empty */
    PS2NotifyFn notify;
    void *opaque;
    bool in_read;
};

struct PS2Mouse {
    PS2Queue q;
    uint8_t mode;          /* MOUSE_STAT_* */
    uint8_t resolution;    /* 0..3: 1, 2, 4, 8 counts/mm */
    uint8_t sample_rate;   /* samples/s */
    uint8_t id;            /* 0, or 3 (IntelliMouse) */
    uint8_t pending_cmd;   /* 0xF3/0xE8 waiting for its argument, or 0 */
    uint8_t rate_hist[3];  /* last three sample rates, oldest first */
    uint8_t buttons;       /* PS2_MOUSE_* */
    uint8_t last_tx;
    bool wrap;
    bool dirty;            /* a packet is due (motion or button change) */
    int32_t dx, dy, dz;    /* accumulated; dy up-positive, dz toward user */
    PS2NotifyFn notify;
    void *opaque;
    bool in_read;
};

/* ------------------------------------------------------------------ queue */

static int q_free(const PS2Queue *q)
{
    return PS2_QUEUE_SIZE - q->count;
}

static bool q_push(PS2Queue *q, uint8_t b)
{
    if (q->count >= PS2_QUEUE_SIZE)
        return false;
    q->data[(q->rptr + q->count) % PS2_QUEUE_SIZE] = b;
    q->count++;
    return true;
}

static int q_pop(PS2Queue *q)
{
    if (q->count == 0)
        return -1;
    uint8_t b = q->data[q->rptr];
    q->rptr = (uint8_t)((q->rptr + 1) % PS2_QUEUE_SIZE);
    q->count--;
    return b;
}

static void q_clear(PS2Queue *q)
{
    q->rptr = 0;
    q->count = 0;
}

static bool q_valid(const PS2Queue *q)
{
    return q->rptr < PS2_QUEUE_SIZE && q->count <= PS2_QUEUE_SIZE;
}

/* ---------------------------------------------------- scan code conversion */

/* 8042 translation table, set 2 -> set 1, for bytes 0x00-0x7F; bytes
 * 0x80-0xFF pass through except 0x83 (F7) and 0x84 (SysRq). */
static const uint8_t set2_to_set1_tab[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t ps2_set2_to_set1(uint8_t b)
{
    if (b < 0x80)
        return set2_to_set1_tab[b];
    if (b == 0x83)
        return 0x41;
    if (b == 0x84)
        return 0x54;
    return b;
}

/* Set 2 code (ext = after E0) to set 3; 0 = no set-3 key (dropped).
 * Keys not listed have the same code in both sets. */
static uint8_t set2_to_set3(uint8_t c, bool ext)
{
    if (ext) {
        switch (c) {
        case 0x14: return 0x58; /* right Ctrl */
        case 0x11: return 0x39; /* right Alt */
        case 0x70: return 0x67; /* Insert */
        case 0x71: return 0x64; /* Delete */
        case 0x6C: return 0x6E; /* Home */
        case 0x69: return 0x65; /* End */
        case 0x7D: return 0x6F; /* Page Up */
        case 0x7A: return 0x6D; /* Page Down */
        case 0x75: return 0x63; /* Up */
        case 0x72: return 0x60; /* Down */
        case 0x6B: return 0x61; /* Left */
        case 0x74: return 0x6A; /* Right */
        case 0x5A: return 0x79; /* keypad Enter */
        case 0x4A: return 0x77; /* keypad / */
        case 0x1F: return 0x8B; /* left Windows */
        case 0x27: return 0x8C; /* right Windows */
        case 0x2F: return 0x8D; /* Menu */
        case 0x7C: return 0x57; /* Print Screen */
        case 0x7E: return 0x62; /* Ctrl-Break */
        default: return 0;      /* fake shifts E0 12 / E0 59 and others */
        }
    }
    switch (c) {
    case 0x76: return 0x08; /* Esc */
    case 0x05: return 0x07; /* F1 */
    case 0x06: return 0x0F; /* F2 */
    case 0x04: return 0x17; /* F3 */
    case 0x0C: return 0x1F; /* F4 */
    case 0x03: return 0x27; /* F5 */
    case 0x0B: return 0x2F; /* F6 */
    case 0x83: return 0x37; /* F7 */
    case 0x0A: return 0x3F; /* F8 */
    case 0x01: return 0x47; /* F9 */
    case 0x09: return 0x4F; /* F10 */
    case 0x78: return 0x56; /* F11 */
    case 0x07: return 0x5E; /* F12 */
    case 0x14: return 0x11; /* left Ctrl */
    case 0x11: return 0x19; /* left Alt */
    case 0x58: return 0x14; /* Caps Lock */
    case 0x77: return 0x76; /* Num Lock */
    case 0x7E: return 0x5F; /* Scroll Lock */
    case 0x7C: return 0x7E; /* keypad * */
    case 0x7B: return 0x84; /* keypad - */
    case 0x79: return 0x7C; /* keypad + */
    case 0x5D: return 0x5C; /* backslash */
    case 0x61: return 0x13; /* ISO key left of Z */
    case 0x84: return 0x57; /* Alt-SysRq */
    default: return c;
    }
}

/* Convert one set-2 key event to the keyboard's current set; returns the
 * output length (<= cap). */
static int kbd_convert(const PS2Kbd *k, const uint8_t *in, int n, uint8_t *out, int cap)
{
    int o = 0;
    if (k->scancode_set == 2) {
        for (int i = 0; i < n && o < cap; i++)
            out[o++] = in[i];
        return o;
    }
    if (k->scancode_set == 1) {
        bool brk = false;
        for (int i = 0; i < n && o < cap; i++) {
            if (in[i] == 0xF0) {
                brk = true;
                continue;
            }
            out[o++] = (uint8_t)(ps2_set2_to_set1(in[i]) | (brk ? 0x80 : 0));
            brk = false;
        }
        return o;
    }
    /* Set 3: no E0 prefixes; Pause is a single make code. */
    bool ext = false, brk = false;
    for (int i = 0; i < n && o + 2 <= cap; i++) {
        uint8_t b = in[i];
        if (b == 0xE1) {
            out[o++] = 0x62;
            break;
        }
        if (b == 0xE0) {
            ext = true;
            continue;
        }
        if (b == 0xF0) {
            brk = true;
            continue;
        }
        uint8_t c = set2_to_set3(b, ext);
        if (c) {
            if (brk)
                out[o++] = 0xF0;
            out[o++] = c;
        }
        ext = brk = false;
    }
    return o;
}

/* --------------------------------------------------------------- keyboard */

static void kbd_push(PS2Kbd *k, uint8_t b)
{
    if (q_push(&k->q, b) && k->notify && !k->in_read)
        k->notify(k->opaque);
}

/* Queue a command reply; a reply always fits (older output is dropped). */
static void kbd_reply(PS2Kbd *k, const uint8_t *b, int n)
{
    if (q_free(&k->q) < n)
        q_clear(&k->q);
    for (int i = 0; i < n; i++)
        kbd_push(k, b[i]);
}

static void kbd_ack(PS2Kbd *k)
{
    uint8_t a = PS2_REPLY_ACK;
    kbd_reply(k, &a, 1);
}

static void kbd_defaults(PS2Kbd *k)
{
    k->scancode_set = 2;
    k->typematic = KBD_DEFAULT_TYPEMATIC;
}

PS2Kbd *ps2_kbd_new(PS2NotifyFn notify, void *opaque)
{
    PS2Kbd *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->notify = notify;
    k->opaque = opaque;
    ps2_kbd_reset(k);
    return k;
}

void ps2_kbd_reset(PS2Kbd *k)
{
    q_clear(&k->q);
    kbd_defaults(k);
    k->leds = 0;
    k->pending_cmd = 0;
    k->last_tx = PS2_REPLY_ACK;
    k->enabled = true;
    k->overrun = false;
}

void ps2_kbd_free(PS2Kbd *k)
{
    free(k);
}

/* Argument byte for a pending command; false if val is a new command. */
static bool kbd_argument(PS2Kbd *k, uint8_t val)
{
    uint8_t cmd = k->pending_cmd;
    if (val >= KBD_CMD_SET_LEDS) {
        k->pending_cmd = 0; /* a command instead of the argument */
        return false;
    }
    switch (cmd) {
    case KBD_CMD_SET_LEDS:
        k->pending_cmd = 0;
        k->leds = val & 0x07;
        kbd_ack(k);
        break;
    case KBD_CMD_TYPEMATIC:
        k->pending_cmd = 0;
        k->typematic = val & 0x7F;
        kbd_ack(k);
        break;
    case KBD_CMD_SCANCODE:
        k->pending_cmd = 0;
        if (val == 0) {
            uint8_t r[2] = { PS2_REPLY_ACK, k->scancode_set };
            kbd_reply(k, r, 2);
        } else if (val <= 3) {
            k->scancode_set = val;
            kbd_ack(k);
        } else {
            uint8_t r = PS2_REPLY_RESEND;
            kbd_reply(k, &r, 1);
        }
        break;
    default: /* 0xFB-0xFD key list: acknowledge each key code */
        kbd_ack(k);
        break;
    }
    return true;
}

void ps2_kbd_write(PS2Kbd *k, uint8_t val)
{
    if (k->pending_cmd && kbd_argument(k, val))
        return;
    switch (val) {
    case KBD_CMD_SET_LEDS:
    case KBD_CMD_TYPEMATIC:
    case KBD_CMD_SCANCODE:
    case KBD_CMD_SET_KEY_T:
    case KBD_CMD_SET_KEY_MB:
    case KBD_CMD_SET_KEY_M:
        kbd_ack(k);
        k->pending_cmd = val;
        break;
    case KBD_CMD_ECHO: {
        uint8_t r = PS2_REPLY_ECHO;
        kbd_reply(k, &r, 1);
        break;
    }
    case KBD_CMD_GET_ID: {
        uint8_t r[3] = { PS2_REPLY_ACK, 0xAB, 0x83 }; /* MF2 keyboard */
        kbd_reply(k, r, 3);
        break;
    }
    case KBD_CMD_ENABLE:
        k->enabled = true;
        kbd_ack(k);
        break;
    case KBD_CMD_DISABLE:
        kbd_defaults(k);
        k->enabled = false;
        kbd_ack(k);
        break;
    case KBD_CMD_DEFAULTS:
        kbd_defaults(k);
        kbd_ack(k);
        break;
    case KBD_CMD_SET_ALL_T:
    case 0xF8:
    case 0xF9:
    case KBD_CMD_SET_ALL_MBR:
        kbd_ack(k);
        break;
    case KBD_CMD_RESEND: {
        uint8_t r = k->last_tx;
        kbd_reply(k, &r, 1);
        break;
    }
    case KBD_CMD_RESET: {
        q_clear(&k->q);
        kbd_defaults(k);
        k->leds = 0;
        k->enabled = true;
        k->overrun = false;
        uint8_t r[2] = { PS2_REPLY_ACK, PS2_REPLY_POR };
        kbd_reply(k, r, 2);
        break;
    }
    default: {
        uint8_t r = PS2_REPLY_RESEND;
        kbd_reply(k, &r, 1);
        break;
    }
    }
}

int ps2_kbd_read(PS2Kbd *k)
{
    k->in_read = true;
    int b = q_pop(&k->q);
    if (b >= 0)
        k->last_tx = (uint8_t)b;
    if (k->q.count == 0)
        k->overrun = false;
    k->in_read = false;
    return b;
}

int ps2_kbd_pending(const PS2Kbd *k)
{
    return k->q.count;
}

void ps2_kbd_put_scancode_set2(PS2Kbd *k, const uint8_t *bytes, int n)
{
    if (!k->enabled || !bytes || n <= 0)
        return;
    uint8_t out[16];
    int len = kbd_convert(k, bytes, n > 16 ? 16 : n, out, (int)sizeof(out));
    if (len == 0)
        return;
    if (q_free(&k->q) < len) {
        if (!k->overrun && q_free(&k->q) > 0) {
            k->overrun = true;
            kbd_push(k, k->scancode_set == 1 ? 0xFF : 0x00);
        }
        return;
    }
    for (int i = 0; i < len; i++)
        kbd_push(k, out[i]);
}

int ps2_kbd_scancode_set(const PS2Kbd *k)
{
    return k->scancode_set;
}

uint8_t ps2_kbd_leds(const PS2Kbd *k)
{
    return k->leds;
}

bool ps2_kbd_enabled(const PS2Kbd *k)
{
    return k->enabled;
}

static int ps2_kbd_post_load(void *opaque, char *err, size_t errlen)
{
    PS2Kbd *k = opaque;
    if (!q_valid(&k->q) || k->scancode_set < 1 || k->scancode_set > 3) {
        snprintf(err, errlen, "ps2-kbd: queue pointers or scan code set out of range");
        return -1;
    }
    k->in_read = false;
    return 0;
}

static const StateField ps2_kbd_fields[] = {
    ST_U8_ARRAY(q.data, PS2Kbd),
    ST_U8(q.rptr, PS2Kbd),
    ST_U8(q.count, PS2Kbd),
    ST_U8(scancode_set, PS2Kbd),
    ST_U8(leds, PS2Kbd),
    ST_U8(typematic, PS2Kbd),
    ST_U8(pending_cmd, PS2Kbd),
    ST_U8(last_tx, PS2Kbd),
    ST_BOOL(enabled, PS2Kbd),
    ST_BOOL(overrun, PS2Kbd),
    ST_END,
};

const StateDesc ps2_kbd_state = {
    .name = "ps2-kbd",
    .version = 1,
    .min_version = 1,
    .fields = ps2_kbd_fields,
    .post_load = ps2_kbd_post_load,
};

/* ------------------------------------------------------------------ mouse */

static void mouse_push(PS2Mouse *m, uint8_t b)
{
    if (q_push(&m->q, b) && m->notify && !m->in_read)
        m->notify(m->opaque);
}

static void mouse_reply(PS2Mouse *m, const uint8_t *b, int n)
{
    if (q_free(&m->q) < n)
        q_clear(&m->q);
    for (int i = 0; i < n; i++)
        mouse_push(m, b[i]);
}

static void mouse_ack(PS2Mouse *m)
{
    uint8_t a = PS2_REPLY_ACK;
    mouse_reply(m, &a, 1);
}

static int mouse_packet_len(const PS2Mouse *m)
{
    return m->id == 3 ? 4 : 3;
}

static void mouse_clear_motion(PS2Mouse *m)
{
    m->dx = m->dy = m->dz = 0;
    m->dirty = false;
}

static void mouse_defaults(PS2Mouse *m)
{
    m->mode = 0; /* stream mode, reporting disabled, scaling 1:1 */
    m->resolution = 2;
    m->sample_rate = 100;
    mouse_clear_motion(m);
}

/* 2:1 scaling (PS/2 TR: 0,1,1,3,6,9 then 2x). */
static int mouse_scale21(int v)
{
    static const int tab[6] = { 0, 1, 1, 3, 6, 9 };
    int a = v < 0 ? -v : v;
    int r = a < 6 ? tab[a] : 2 * a;
    return v < 0 ? -r : r;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Build one packet from the accumulated motion and clear it. */
static int mouse_make_packet(PS2Mouse *m, uint8_t *p, bool scale)
{
    int dx = m->dx, dy = m->dy;
    if (scale && (m->mode & MOUSE_STAT_SCALE21)) {
        dx = mouse_scale21(dx);
        dy = mouse_scale21(dy);
    }
    bool ox = dx < -256 || dx > 255, oy = dy < -256 || dy > 255;
    dx = clampi(dx, -256, 255);
    dy = clampi(dy, -256, 255);
    p[0] = (uint8_t)((m->buttons & 0x07) | 0x08 | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0) |
                     (ox ? 0x40 : 0) | (oy ? 0x80 : 0));
    p[1] = (uint8_t)(dx & 0xFF);
    p[2] = (uint8_t)(dy & 0xFF);
    int n = 3;
    if (m->id == 3)
        p[n++] = (uint8_t)(clampi(m->dz, -127, 127) & 0xFF);
    mouse_clear_motion(m);
    return n;
}

/* Stream mode: send the due packet if it fits. */
static void mouse_flush(PS2Mouse *m)
{
    if (!m->dirty || m->wrap || (m->mode & MOUSE_STAT_REMOTE) || !(m->mode & MOUSE_STAT_ENABLED))
        return;
    if (q_free(&m->q) < mouse_packet_len(m))
        return;
    uint8_t p[4];
    int n = mouse_make_packet(m, p, true);
    for (int i = 0; i < n; i++)
        mouse_push(m, p[i]);
}

PS2Mouse *ps2_mouse_new(PS2NotifyFn notify, void *opaque)
{
    PS2Mouse *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->notify = notify;
    m->opaque = opaque;
    ps2_mouse_reset(m);
    return m;
}

void ps2_mouse_reset(PS2Mouse *m)
{
    q_clear(&m->q);
    mouse_defaults(m);
    m->id = 0;
    m->pending_cmd = 0;
    memset(m->rate_hist, 0, sizeof(m->rate_hist));
    m->last_tx = PS2_REPLY_ACK;
    m->wrap = false;
}

void ps2_mouse_free(PS2Mouse *m)
{
    free(m);
}

static bool mouse_argument(PS2Mouse *m, uint8_t val)
{
    uint8_t cmd = m->pending_cmd;
    m->pending_cmd = 0;
    if (val >= MOUSE_CMD_SCALE_1_1)
        return false; /* a command instead of the argument */
    if (cmd == MOUSE_CMD_SET_RATE) {
        m->sample_rate = val;
        m->rate_hist[0] = m->rate_hist[1];
        m->rate_hist[1] = m->rate_hist[2];
        m->rate_hist[2] = val;
        if (m->rate_hist[0] == 200 && m->rate_hist[1] == 100 && m->rate_hist[2] == 80)
            m->id = 3; /* IntelliMouse knock */
    } else {
        m->resolution = val & 0x03;
    }
    mouse_ack(m);
    return true;
}

void ps2_mouse_write(PS2Mouse *m, uint8_t val)
{
    if (m->wrap && val != MOUSE_CMD_RESET && val != MOUSE_CMD_RESET_WRAP) {
        mouse_reply(m, &val, 1); /* wrap mode echoes */
        return;
    }
    if (m->pending_cmd && mouse_argument(m, val))
        return;
    switch (val) {
    case MOUSE_CMD_SCALE_1_1:
        m->mode &= (uint8_t)~MOUSE_STAT_SCALE21;
        mouse_ack(m);
        break;
    case MOUSE_CMD_SCALE_2_1:
        m->mode |= MOUSE_STAT_SCALE21;
        mouse_ack(m);
        break;
    case MOUSE_CMD_SET_RES:
    case MOUSE_CMD_SET_RATE:
        mouse_ack(m);
        m->pending_cmd = val;
        break;
    case MOUSE_CMD_STATUS: {
        /* Byte 1: bit 6 remote, 5 enabled, 4 scaling 2:1, 2 left,
         * 1 middle, 0 right. */
        uint8_t b = m->buttons;
        uint8_t st = (uint8_t)(m->mode | ((b & PS2_MOUSE_LEFT) ? 0x04 : 0) |
                               ((b & PS2_MOUSE_MIDDLE) ? 0x02 : 0) |
                               ((b & PS2_MOUSE_RIGHT) ? 0x01 : 0));
        uint8_t r[4] = { PS2_REPLY_ACK, st, m->resolution, m->sample_rate };
        mouse_reply(m, r, 4);
        break;
    }
    case MOUSE_CMD_STREAM:
        m->mode &= (uint8_t)~MOUSE_STAT_REMOTE;
        mouse_clear_motion(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_READ_DATA: {
        uint8_t r[5];
        r[0] = PS2_REPLY_ACK;
        int n = mouse_make_packet(m, r + 1, false);
        mouse_reply(m, r, n + 1);
        break;
    }
    case MOUSE_CMD_RESET_WRAP:
        m->wrap = false;
        mouse_clear_motion(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_WRAP:
        m->wrap = true;
        mouse_clear_motion(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_REMOTE:
        m->mode |= MOUSE_STAT_REMOTE;
        mouse_clear_motion(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_GET_ID: {
        uint8_t r[2] = { PS2_REPLY_ACK, m->id };
        mouse_clear_motion(m);
        mouse_reply(m, r, 2);
        break;
    }
    case MOUSE_CMD_ENABLE:
        m->mode |= MOUSE_STAT_ENABLED;
        mouse_clear_motion(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_DISABLE:
        m->mode &= (uint8_t)~MOUSE_STAT_ENABLED;
        mouse_clear_motion(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_DEFAULTS:
        mouse_defaults(m);
        mouse_ack(m);
        break;
    case MOUSE_CMD_RESEND: {
        uint8_t r = m->last_tx;
        mouse_reply(m, &r, 1);
        break;
    }
    case MOUSE_CMD_RESET: {
        q_clear(&m->q);
        mouse_defaults(m);
        m->id = 0;
        m->wrap = false;
        memset(m->rate_hist, 0, sizeof(m->rate_hist));
        uint8_t r[3] = { PS2_REPLY_ACK, PS2_REPLY_POR, 0x00 };
        mouse_reply(m, r, 3);
        break;
    }
    default: {
        uint8_t r = PS2_REPLY_RESEND;
        mouse_reply(m, &r, 1);
        break;
    }
    }
}

int ps2_mouse_read(PS2Mouse *m)
{
    m->in_read = true;
    int b = q_pop(&m->q);
    if (b >= 0)
        m->last_tx = (uint8_t)b;
    mouse_flush(m); /* room may have opened for a deferred packet */
    m->in_read = false;
    return b;
}

int ps2_mouse_pending(const PS2Mouse *m)
{
    return m->q.count;
}

void ps2_mouse_event(PS2Mouse *m, int dx, int dy, int dz, int buttons)
{
    uint8_t b = (uint8_t)(buttons & 0x07);
    bool track = !(m->mode & MOUSE_STAT_REMOTE) ? (m->mode & MOUSE_STAT_ENABLED) != 0 : true;
    if (m->wrap)
        track = false;
    if (track) {
        m->dx = clampi(m->dx + clampi(dx, -MOUSE_ACCUM_MAX, MOUSE_ACCUM_MAX), -MOUSE_ACCUM_MAX,
                       MOUSE_ACCUM_MAX);
        m->dy = clampi(m->dy - clampi(dy, -MOUSE_ACCUM_MAX, MOUSE_ACCUM_MAX), -MOUSE_ACCUM_MAX,
                       MOUSE_ACCUM_MAX);
        m->dz = clampi(m->dz + clampi(dz, -MOUSE_ACCUM_MAX, MOUSE_ACCUM_MAX), -MOUSE_ACCUM_MAX,
                       MOUSE_ACCUM_MAX);
        if (dx || dy || dz || b != m->buttons)
            m->dirty = true;
    }
    m->buttons = b;
    mouse_flush(m);
}

uint8_t ps2_mouse_id(const PS2Mouse *m)
{
    return m->id;
}

static int ps2_mouse_post_load(void *opaque, char *err, size_t errlen)
{
    PS2Mouse *m = opaque;
    if (!q_valid(&m->q) || (m->id != 0 && m->id != 3) || m->resolution > 3 ||
        m->dx < -MOUSE_ACCUM_MAX || m->dx > MOUSE_ACCUM_MAX || m->dy < -MOUSE_ACCUM_MAX ||
        m->dy > MOUSE_ACCUM_MAX || m->dz < -MOUSE_ACCUM_MAX || m->dz > MOUSE_ACCUM_MAX) {
        snprintf(err, errlen, "ps2-mouse: queue, id, resolution or motion out of range");
        return -1;
    }
    m->in_read = false;
    return 0;
}

static const StateField ps2_mouse_fields[] = {
    ST_U8_ARRAY(q.data, PS2Mouse),
    ST_U8(q.rptr, PS2Mouse),
    ST_U8(q.count, PS2Mouse),
    ST_U8(mode, PS2Mouse),
    ST_U8(resolution, PS2Mouse),
    ST_U8(sample_rate, PS2Mouse),
    ST_U8(id, PS2Mouse),
    ST_U8(pending_cmd, PS2Mouse),
    ST_U8_ARRAY(rate_hist, PS2Mouse),
    ST_U8(buttons, PS2Mouse),
    ST_U8(last_tx, PS2Mouse),
    ST_BOOL(wrap, PS2Mouse),
    ST_BOOL(dirty, PS2Mouse),
    ST_I32(dx, PS2Mouse),
    ST_I32(dy, PS2Mouse),
    ST_I32(dz, PS2Mouse),
    ST_END,
};

const StateDesc ps2_mouse_state = {
    .name = "ps2-mouse",
    .version = 1,
    .min_version = 1,
    .fields = ps2_mouse_fields,
    .post_load = ps2_mouse_post_load,
};
