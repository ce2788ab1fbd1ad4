/*
 * test_keymap.c - host keys to PS/2 scan code set 2 (frontend/keymap.c):
 * every key of a 105-key ISO keyboard gives the make and break bytes of
 * IBM's set-2 table (written here as text, independently of keymap.c's
 * table), the special keys (Pause, PrintScreen and their Ctrl/Alt/Shift
 * forms), the whole scancode range is well formed, terminal characters map
 * to the right keys, and the key queue never overruns a real PS/2
 * keyboard's 16-byte buffer while keeping every byte in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/keymap.c"

typedef struct {
    int sc;
    const char *name;
    const char *make;     /* hex bytes */
} Key;

/* The 105 keys of an ISO PC keyboard, in rows. */
static const Key iso105[] = {
    { SDL_SCANCODE_ESCAPE, "Esc", "76" },
    { SDL_SCANCODE_F1, "F1", "05" }, { SDL_SCANCODE_F2, "F2", "06" }, { SDL_SCANCODE_F3, "F3", "04" },
    { SDL_SCANCODE_F4, "F4", "0C" }, { SDL_SCANCODE_F5, "F5", "03" }, { SDL_SCANCODE_F6, "F6", "0B" },
    { SDL_SCANCODE_F7, "F7", "83" }, { SDL_SCANCODE_F8, "F8", "0A" }, { SDL_SCANCODE_F9, "F9", "01" },
    { SDL_SCANCODE_F10, "F10", "09" }, { SDL_SCANCODE_F11, "F11", "78" }, { SDL_SCANCODE_F12, "F12", "07" },
    { SDL_SCANCODE_PRINTSCREEN, "PrtSc", NULL }, { SDL_SCANCODE_SCROLLLOCK, "ScrLk", "7E" },
    { SDL_SCANCODE_PAUSE, "Pause", NULL },
    /* row 1 */
    { SDL_SCANCODE_GRAVE, "`", "0E" }, { SDL_SCANCODE_1, "1", "16" }, { SDL_SCANCODE_2, "2", "1E" },
    { SDL_SCANCODE_3, "3", "26" }, { SDL_SCANCODE_4, "4", "25" }, { SDL_SCANCODE_5, "5", "2E" },
    { SDL_SCANCODE_6, "6", "36" }, { SDL_SCANCODE_7, "7", "3D" }, { SDL_SCANCODE_8, "8", "3E" },
    { SDL_SCANCODE_9, "9", "46" }, { SDL_SCANCODE_0, "0", "45" }, { SDL_SCANCODE_MINUS, "-", "4E" },
    { SDL_SCANCODE_EQUALS, "=", "55" }, { SDL_SCANCODE_BACKSPACE, "Backspace", "66" },
    /* row 2 */
    { SDL_SCANCODE_TAB, "Tab", "0D" }, { SDL_SCANCODE_Q, "Q", "15" }, { SDL_SCANCODE_W, "W", "1D" },
    { SDL_SCANCODE_E, "E", "24" }, { SDL_SCANCODE_R, "R", "2D" }, { SDL_SCANCODE_T, "T", "2C" },
    { SDL_SCANCODE_Y, "Y", "35" }, { SDL_SCANCODE_U, "U", "3C" }, { SDL_SCANCODE_I, "I", "43" },
    { SDL_SCANCODE_O, "O", "44" }, { SDL_SCANCODE_P, "P", "4D" }, { SDL_SCANCODE_LEFTBRACKET, "[", "54" },
    { SDL_SCANCODE_RIGHTBRACKET, "]", "5B" },
    /* row 3 */
    { SDL_SCANCODE_CAPSLOCK, "Caps", "58" }, { SDL_SCANCODE_A, "A", "1C" }, { SDL_SCANCODE_S, "S", "1B" },
    { SDL_SCANCODE_D, "D", "23" }, { SDL_SCANCODE_F, "F", "2B" }, { SDL_SCANCODE_G, "G", "34" },
    { SDL_SCANCODE_H, "H", "33" }, { SDL_SCANCODE_J, "J", "3B" }, { SDL_SCANCODE_K, "K", "42" },
    { SDL_SCANCODE_L, "L", "4B" }, { SDL_SCANCODE_SEMICOLON, ";", "4C" },
    { SDL_SCANCODE_APOSTROPHE, "'", "52" }, { SDL_SCANCODE_NONUSHASH, "# (ISO)", "5D" },
    { SDL_SCANCODE_RETURN, "Enter", "5A" },
    /* row 4 */
    { SDL_SCANCODE_LSHIFT, "LShift", "12" }, { SDL_SCANCODE_NONUSBACKSLASH, "\\ (ISO)", "61" },
    { SDL_SCANCODE_Z, "Z", "1A" }, { SDL_SCANCODE_X, "X", "22" }, { SDL_SCANCODE_C, "C", "21" },
    { SDL_SCANCODE_V, "V", "2A" }, { SDL_SCANCODE_B, "B", "32" }, { SDL_SCANCODE_N, "N", "31" },
    { SDL_SCANCODE_M, "M", "3A" }, { SDL_SCANCODE_COMMA, ",", "41" }, { SDL_SCANCODE_PERIOD, ".", "49" },
    { SDL_SCANCODE_SLASH, "/", "4A" }, { SDL_SCANCODE_RSHIFT, "RShift", "59" },
    /* row 5 */
    { SDL_SCANCODE_LCTRL, "LCtrl", "14" }, { SDL_SCANCODE_LGUI, "LWin", "E0 1F" },
    { SDL_SCANCODE_LALT, "LAlt", "11" }, { SDL_SCANCODE_SPACE, "Space", "29" },
    { SDL_SCANCODE_RALT, "AltGr", "E0 11" }, { SDL_SCANCODE_RGUI, "RWin", "E0 27" },
    { SDL_SCANCODE_APPLICATION, "Menu", "E0 2F" }, { SDL_SCANCODE_RCTRL, "RCtrl", "E0 14" },
    /* editing block and arrows */
    { SDL_SCANCODE_INSERT, "Ins", "E0 70" }, { SDL_SCANCODE_HOME, "Home", "E0 6C" },
    { SDL_SCANCODE_PAGEUP, "PgUp", "E0 7D" }, { SDL_SCANCODE_DELETE, "Del", "E0 71" },
    { SDL_SCANCODE_END, "End", "E0 69" }, { SDL_SCANCODE_PAGEDOWN, "PgDn", "E0 7A" },
    { SDL_SCANCODE_UP, "Up", "E0 75" }, { SDL_SCANCODE_LEFT, "Left", "E0 6B" },
    { SDL_SCANCODE_DOWN, "Down", "E0 72" }, { SDL_SCANCODE_RIGHT, "Right", "E0 74" },
    /* keypad */
    { SDL_SCANCODE_NUMLOCKCLEAR, "NumLock", "77" }, { SDL_SCANCODE_KP_DIVIDE, "KP/", "E0 4A" },
    { SDL_SCANCODE_KP_MULTIPLY, "KP*", "7C" }, { SDL_SCANCODE_KP_MINUS, "KP-", "7B" },
    { SDL_SCANCODE_KP_7, "KP7", "6C" }, { SDL_SCANCODE_KP_8, "KP8", "75" }, { SDL_SCANCODE_KP_9, "KP9", "7D" },
    { SDL_SCANCODE_KP_PLUS, "KP+", "79" }, { SDL_SCANCODE_KP_4, "KP4", "6B" }, { SDL_SCANCODE_KP_5, "KP5", "73" },
    { SDL_SCANCODE_KP_6, "KP6", "74" }, { SDL_SCANCODE_KP_1, "KP1", "69" }, { SDL_SCANCODE_KP_2, "KP2", "72" },
    { SDL_SCANCODE_KP_3, "KP3", "7A" }, { SDL_SCANCODE_KP_ENTER, "KPEnter", "E0 5A" },
    { SDL_SCANCODE_KP_0, "KP0", "70" }, { SDL_SCANCODE_KP_PERIOD, "KP.", "71" },
};

/* "E0 F0 75" -> bytes; returns the count. */
static int parse_hex(const char *s, uint8_t *out)
{
    int n = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 16);
        if (end == s)
            break;
        out[n++] = (uint8_t)v;
        s = end;
    }
    return n;
}

static void expect_seq(int sc, bool down, unsigned mods, const char *want, const char *what)
{
    uint8_t got[8], exp[16];
    memset(got, 0xCC, sizeof(got));
    int n = keymap_sdl_to_set2(sc, down, mods, got);
    int m = parse_hex(want, exp);
    if (n != m || memcmp(got, exp, (size_t)m) != 0) {
        char buf[64] = "";
        for (int k = 0; k < n && k < 8; k++)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%02X ", got[k]);
        fail_msg("%s %s (mods %u): got '%s', expected '%s'", what, down ? "make" : "break", mods, buf, want);
    }
}

static void test_iso105(void **state)
{
    (void)state;
    assert_int_equal(sizeof(iso105) / sizeof(iso105[0]), 105);
    for (size_t i = 0; i < sizeof(iso105) / sizeof(iso105[0]); i++) {
        const Key *k = &iso105[i];
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(iso105[j].sc, k->sc);
        if (!k->make)
            continue;   /* the special keys: below */
        char brk[16];
        if (!strncmp(k->make, "E0 ", 3))
            snprintf(brk, sizeof(brk), "E0 F0 %s", k->make + 3);
        else
            snprintf(brk, sizeof(brk), "F0 %s", k->make);
        expect_seq(k->sc, true, 0, k->make, k->name);
        expect_seq(k->sc, false, 0, brk, k->name);
        /* modifiers change nothing for ordinary keys */
        expect_seq(k->sc, true, KEYMAP_MOD_CTRL | KEYMAP_MOD_ALT | KEYMAP_MOD_SHIFT, k->make, k->name);
    }
}

static void test_special_keys(void **state)
{
    (void)state;
    expect_seq(SDL_SCANCODE_PAUSE, true, 0, "E1 14 77 E1 F0 14 F0 77", "Pause");
    expect_seq(SDL_SCANCODE_PAUSE, false, 0, "", "Pause");
    expect_seq(SDL_SCANCODE_PAUSE, true, KEYMAP_MOD_CTRL, "E0 7E E0 F0 7E", "Ctrl+Pause (Break)");
    expect_seq(SDL_SCANCODE_PAUSE, false, KEYMAP_MOD_CTRL, "", "Ctrl+Pause (Break)");
    expect_seq(SDL_SCANCODE_PRINTSCREEN, true, 0, "E0 12 E0 7C", "PrtSc");
    expect_seq(SDL_SCANCODE_PRINTSCREEN, false, 0, "E0 F0 7C E0 F0 12", "PrtSc");
    expect_seq(SDL_SCANCODE_PRINTSCREEN, true, KEYMAP_MOD_SHIFT, "E0 7C", "Shift+PrtSc");
    expect_seq(SDL_SCANCODE_PRINTSCREEN, false, KEYMAP_MOD_CTRL, "E0 F0 7C", "Ctrl+PrtSc");
    expect_seq(SDL_SCANCODE_PRINTSCREEN, true, KEYMAP_MOD_ALT, "84", "Alt+PrtSc (SysRq)");
    expect_seq(SDL_SCANCODE_PRINTSCREEN, false, KEYMAP_MOD_ALT, "F0 84", "Alt+PrtSc (SysRq)");
    expect_seq(SDL_SCANCODE_SYSREQ, true, 0, "84", "SysRq");
    /* a few keys beyond the 105: Japanese/Korean, multimedia, F13+ */
    expect_seq(SDL_SCANCODE_INTERNATIONAL1, true, 0, "51", "Ro");
    expect_seq(SDL_SCANCODE_INTERNATIONAL3, false, 0, "F0 6A", "Yen");
    expect_seq(SDL_SCANCODE_LANG1, true, 0, "F2", "Hangul");
    expect_seq(SDL_SCANCODE_LANG1, false, 0, "", "Hangul (no break)");
    expect_seq(SDL_SCANCODE_MUTE, true, 0, "E0 23", "Mute");
    expect_seq(SDL_SCANCODE_VOLUMEUP, false, 0, "E0 F0 32", "Volume up");
    expect_seq(SDL_SCANCODE_POWER, true, 0, "E0 37", "Power");
    expect_seq(SDL_SCANCODE_F13, true, 0, "08", "F13");
    expect_seq(SDL_SCANCODE_F24, true, 0, "5F", "F24");
    /* unmapped */
    uint8_t b[8];
    assert_int_equal(keymap_sdl_to_set2(SDL_SCANCODE_UNKNOWN, true, 0, b), 0);
    assert_int_equal(keymap_sdl_to_set2(-1, true, 0, b), 0);
    assert_int_equal(keymap_sdl_to_set2(SDL_NUM_SCANCODES, true, 0, b), 0);
    assert_int_equal(keymap_sdl_to_set2(SDL_SCANCODE_KP_HEXADECIMAL, true, 0, b), 0);
}

/* Every mapped scancode: make is [E0] XX, break is [E0] F0 XX, and no two
 * keys share a make code except documented aliases. */
static void test_whole_range(void **state)
{
    (void)state;
    int owner[512];
    for (int k = 0; k < 512; k++)
        owner[k] = -1;
    int mapped = 0;
    for (int sc = 0; sc < SDL_NUM_SCANCODES; sc++) {
        if (sc == SDL_SCANCODE_PAUSE || sc == SDL_SCANCODE_PRINTSCREEN || sc == SDL_SCANCODE_SYSREQ)
            continue;
        uint8_t mk[8], br[8];
        int n = keymap_sdl_to_set2(sc, true, 0, mk);
        int m = keymap_sdl_to_set2(sc, false, 0, br);
        if (n == 0) {
            assert_int_equal(m, 0);
            continue;
        }
        mapped++;
        assert_true(n == 1 || (n == 2 && mk[0] == 0xE0));
        assert_true(mk[n - 1] != 0xE0 && mk[n - 1] != 0xF0 && mk[n - 1] != 0xE1 && mk[n - 1] != 0);
        if (m == 0) {   /* Hanja/Hangul */
            assert_true(sc == SDL_SCANCODE_LANG1 || sc == SDL_SCANCODE_LANG2);
        } else {
            assert_int_equal(m, n + 1);
            assert_memory_equal(br, mk, (size_t)(n - 1));
            assert_int_equal(br[n - 1], 0xF0);
            assert_int_equal(br[n], mk[n - 1]);
        }
        int code = (n == 2 ? 256 : 0) + mk[n - 1];
        if (owner[code] >= 0) {
            bool alias = (sc == SDL_SCANCODE_NONUSHASH && owner[code] == SDL_SCANCODE_BACKSLASH) ||
                         (sc == SDL_SCANCODE_AUDIOMUTE && owner[code] == SDL_SCANCODE_MUTE);
            if (!alias)
                fail_msg("scancodes %d and %d both send %s%02X", owner[code], sc, n == 2 ? "E0 " : "",
                         mk[n - 1]);
        } else {
            owner[code] = sc;
        }
    }
    assert_true(mapped >= 105 + 20);
}

static void test_ascii(void **state)
{
    (void)state;
    bool sh, ct;
    assert_int_equal(keymap_ascii_to_sdl('a', &sh, &ct), SDL_SCANCODE_A);
    assert_false(sh);
    assert_false(ct);
    assert_int_equal(keymap_ascii_to_sdl('Q', &sh, &ct), SDL_SCANCODE_Q);
    assert_true(sh);
    assert_int_equal(keymap_ascii_to_sdl('!', &sh, &ct), SDL_SCANCODE_1);
    assert_true(sh);
    assert_int_equal(keymap_ascii_to_sdl('~', &sh, &ct), SDL_SCANCODE_GRAVE);
    assert_true(sh);
    assert_int_equal(keymap_ascii_to_sdl('"', &sh, &ct), SDL_SCANCODE_APOSTROPHE);
    assert_true(sh);
    assert_int_equal(keymap_ascii_to_sdl('/', &sh, &ct), SDL_SCANCODE_SLASH);
    assert_false(sh);
    assert_int_equal(keymap_ascii_to_sdl(' ', &sh, &ct), SDL_SCANCODE_SPACE);
    assert_int_equal(keymap_ascii_to_sdl('\r', &sh, &ct), SDL_SCANCODE_RETURN);
    assert_int_equal(keymap_ascii_to_sdl('\t', &sh, &ct), SDL_SCANCODE_TAB);
    assert_int_equal(keymap_ascii_to_sdl(0x1B, &sh, &ct), SDL_SCANCODE_ESCAPE);
    assert_int_equal(keymap_ascii_to_sdl(0x7F, &sh, &ct), SDL_SCANCODE_BACKSPACE);
    assert_int_equal(keymap_ascii_to_sdl(0x03, &sh, &ct), SDL_SCANCODE_C);   /* Ctrl-C */
    assert_true(ct);
    assert_false(sh);
    assert_int_equal(keymap_ascii_to_sdl(0x00, &sh, &ct), -1);
    assert_int_equal(keymap_ascii_to_sdl(0x80, &sh, &ct), -1);
    assert_int_equal(keymap_ascii_to_sdl(0xE9, &sh, &ct), -1);
    /* every printable ASCII character has a key */
    for (int c = 0x20; c < 0x7F; c++)
        assert_true(keymap_ascii_to_sdl(c, &sh, &ct) > 0);
}

static void notify(void *opaque) { (*(int *)opaque)++; }

/* A paste of 60 shifted characters (6 bytes each) through the queue: the
 * keyboard's 16-byte buffer never overruns and the guest reads every byte
 * in order. */
static void test_queue(void **state)
{
    (void)state;
    int notes = 0;
    PS2Kbd *kbd = ps2_kbd_new(notify, &notes);
    assert_non_null(kbd);
    static KeyQueue q;
    memset(&q, 0, sizeof(q));
    uint8_t expect[1024];
    int ne = 0;
    for (int i = 0; i < 60; i++) {
        uint8_t b[8];
        int n;
        n = keymap_sdl_to_set2(SDL_SCANCODE_LSHIFT, true, 0, b);
        assert_int_equal(keyq_push(&q, b, n), 0);
        memcpy(expect + ne, b, (size_t)n), ne += n;
        int sc = i % 2 ? SDL_SCANCODE_UP : SDL_SCANCODE_A + i % 26;
        n = keymap_sdl_to_set2(sc, true, 0, b);
        assert_int_equal(keyq_push(&q, b, n), 0);
        memcpy(expect + ne, b, (size_t)n), ne += n;
        n = keymap_sdl_to_set2(sc, false, 0, b);
        assert_int_equal(keyq_push(&q, b, n), 0);
        memcpy(expect + ne, b, (size_t)n), ne += n;
        n = keymap_sdl_to_set2(SDL_SCANCODE_LSHIFT, false, 0, b);
        assert_int_equal(keyq_push(&q, b, n), 0);
        memcpy(expect + ne, b, (size_t)n), ne += n;
    }
    int got = 0;
    for (int round = 0; round < 1000 && got < ne; round++) {
        keyq_flush(&q, kbd);
        assert_true(ps2_kbd_pending(kbd) <= PS2_QUEUE_SIZE);
        /* the guest reads a few bytes between polls */
        for (int r = 0; r < 5; r++) {
            int v = ps2_kbd_read(kbd);
            if (v < 0)
                break;
            assert_int_not_equal(v, 0x00);   /* no overrun code */
            assert_true(got < ne);
            assert_int_equal(v, expect[got]);
            got++;
        }
    }
    assert_int_equal(got, ne);
    assert_int_equal(q.count, 0);
    assert_true(notes > 0);
    /* a full queue refuses more events instead of corrupting them */
    uint8_t b[8] = { 0xE0, 0x75 };
    int pushed = 0;
    while (keyq_push(&q, b, 2) == 0)
        pushed++;
    assert_true(pushed >= 256);
    keyq_flush(&q, NULL);   /* no keyboard: dropped */
    assert_int_equal(q.count, 0);
    ps2_kbd_free(kbd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso105),
        cmocka_unit_test(test_special_keys),
        cmocka_unit_test(test_whole_range),
        cmocka_unit_test(test_ascii),
        cmocka_unit_test(test_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
