/*
 * chardev.h - the tiny character backend a serial device talks to.
 *
 * Guest -> host: the device calls be.write(be.opaque, buf, len) for every
 * byte it transmits (a terminal, a file, a socket; NULL write drops data).
 * Host -> guest: the front end asks the device how much it can take
 * (e.g. uart16550_can_receive) and hands bytes over (uart16550_receive);
 * the device never pulls from the backend.
 */
#ifndef VESSEL_DEVICES_CHARDEV_H
#define VESSEL_DEVICES_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

/** A character sink: write(opaque, buf, len) sends len bytes to the host.
 *  The call must not re-enter the device. A NULL write discards output. */
typedef struct CharBackend {
    void (*write)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
} CharBackend;

/** Send len bytes through be (no-op when be has no write callback). */
static inline void chardev_write(const CharBackend *be, const uint8_t *buf, size_t len)
{
    if (be && be->write && len)
        be->write(be->opaque, buf, len);
}

#endif
