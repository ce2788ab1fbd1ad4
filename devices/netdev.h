/*
 * netdev.h - the link between a NIC model and a host network backend.
 *
 * A NetBackend carries Ethernet frames (destination MAC first, no FCS) in
 * both directions:
 *  - guest -> network: the NIC calls be->send(be, frame, len) for every frame
 *    it transmits (synchronously, from the CPU thread);
 *  - network -> guest: the backend asks netdev_can_receive(be, len) and, if
 *    true, calls netdev_receive(be, frame, len).  When the NIC refuses, the
 *    backend keeps the frame (or stops reading its socket) and retries when
 *    the NIC calls be->rx_ready(be) (the guest gave it receive buffers) or
 *    at its next poll.
 *
 * The backend (front end) fills send/rx_ready/opaque; the NIC model fills the
 * nic_* members when it is created with the backend (e1000_new) and clears
 * them when it is freed.  Everything runs on the one machine thread.
 */
#ifndef VESSEL_DEVICES_NETDEV_H
#define VESSEL_DEVICES_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Largest frame either side passes (bytes, without FCS): a 16 KiB jumbo
 *  frame plus headroom; longer frames are dropped. */
#define NETDEV_MAX_FRAME 16384

typedef struct NetBackend NetBackend;

struct NetBackend {
    /* --- filled by the backend --- */
    /** Transmit one frame from the guest (len <= NETDEV_MAX_FRAME).  The
     *  frame buffer is only valid during the call. */
    void (*send)(NetBackend *be, const uint8_t *frame, size_t len);
    /** Optional: the NIC can take frames again (new receive descriptors). */
    void (*rx_ready)(NetBackend *be);
    void *opaque;            /**< the backend's own state */

    /* --- filled by the NIC model --- */
    void *nic;
    /** Whether a frame of len bytes would be accepted now. */
    bool (*nic_can_receive)(void *nic, size_t len);
    /** Deliver one frame; returns len if it was taken (written to the guest
     *  or dropped by the NIC's address filter), 0 if there was no room. */
    size_t (*nic_receive)(void *nic, const uint8_t *frame, size_t len);
};

/** True if the backend's NIC would take a len-byte frame now (false with
 *  no NIC attached). */
static inline bool netdev_can_receive(const NetBackend *be, size_t len)
{
    return be && be->nic && be->nic_can_receive && be->nic_can_receive(be->nic, len);
}

/** Hand a frame to the NIC. Returns len if taken, 0 if the NIC had no room
 *  (or there is no NIC). */
static inline size_t netdev_receive(const NetBackend *be, const uint8_t *frame, size_t len)
{
    if (!be || !be->nic || !be->nic_receive)
        return 0;
    return be->nic_receive(be->nic, frame, len);
}

/** NIC side: transmit a frame through the backend (no-op without one). */
static inline void netdev_send(NetBackend *be, const uint8_t *frame, size_t len)
{
    if (be && be->send && len <= NETDEV_MAX_FRAME)
        be->send(be, frame, len);
}

#endif
