#!/usr/bin/env python3
"""gdb_packets.py HOST:PORT|unix:PATH - the gdb stub at the packet level.

The emulator runs gdbguest.bin, started with -S -gdb tcp:HOST:PORT (or unix:PATH).  This
client speaks the remote protocol itself and sends what gdb never would:
bad checksums, malformed and oversized packets, huge lengths, unmapped
addresses, a second connection, random packets.  Every reply must be a
well-formed packet (or an ack) and the stub must keep working.  Ends with
'k', after which the emulator must exit with status 0 (checked by the
caller).  Exits 0 when every check passed.
"""
import random
import re
import socket
import sys
import time
import xml.etree.ElementTree as ET

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def csum(data):
    return sum(data) & 0xFF


def frame(data):
    return b"$" + data + b"#%02x" % csum(data)


class Conn:
    def __init__(self, addr):
        """addr: HOST:PORT or unix:PATH; retried while the emulator starts."""
        deadline = time.time() + 15
        while True:
            try:
                if addr.startswith("unix:"):
                    self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.s.connect(addr[5:])
                else:
                    host, port = addr.rsplit(":", 1)
                    self.s = socket.create_connection((host, int(port)), timeout=10)
                    self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.ack = True

    def _fill(self, timeout):
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return False
        if not d:
            raise EOFError("connection closed")
        self.buf += d
        return True

    def read_byte(self, timeout=10):
        while not self.buf:
            if not self._fill(timeout):
                return None
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_packet(self, timeout=10):
        """Returns the payload of the next packet (checksum verified)."""
        deadline = time.time() + timeout
        while True:
            m = re.match(rb"[^$]*\$([^#]*)#([0-9a-fA-F]{2})", self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                data = m.group(1)
                if int(m.group(2), 16) != csum(data):
                    raise ValueError("bad checksum from the stub: %r" % data[:60])
                if self.ack:
                    self.s.sendall(b"+")
                return data
            left = deadline - time.time()
            if left <= 0 or not self._fill(left):
                raise TimeoutError("no reply packet (buffer %r)" % self.buf[:60])

    def cmd(self, data, timeout=10):
        """Sends a packet, expects '+' (ack mode) and returns the reply."""
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(frame(data))
        if self.ack:
            a = self.read_byte(timeout)
            if a != b"+":
                raise ValueError("expected '+', got %r" % a)
        return self.read_packet(timeout)

    def cmd_console(self, data):
        """qRcmd: O packets then OK; returns (text, final reply)."""
        self.s.sendall(frame(data.encode()))
        if self.ack:
            assert self.read_byte() == b"+"
        text = b""
        while True:
            p = self.read_packet()
            if p.startswith(b"O") and p != b"OK":
                text += bytes.fromhex(p[1:].decode())
            else:
                return text.decode(), p

    def close(self):
        self.s.close()


def is_error(p):
    return re.fullmatch(rb"E[0-9a-fA-F]{2}", p) is not None


def main():
    addr = sys.argv[1]
    c = Conn(addr)

    # --- the basics
    sup = c.cmd("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
    for feat in (b"PacketSize=", b"qXfer:features:read+", b"swbreak+", b"hwbreak+"):
        check(feat in sup, "qSupported announces %s" % feat.decode())
    xml, off = b"", 0
    while True:
        p = c.cmd("qXfer:features:read:target.xml:%x,200" % off)
        check(p[:1] in (b"m", b"l"), "qXfer chunk at %d starts with m or l" % off) if off == 0 else None
        xml += p[1:]
        off += len(p) - 1
        if p[:1] != b"m" or off > 100000:
            break
    root = ET.fromstring(xml.decode())
    feats = [f.get("name") for f in root.iter("feature")]
    regs = [r.get("name") for r in root.iter("reg")]
    check("org.gnu.gdb.i386.core" in feats, "target.xml has org.gnu.gdb.i386.core")
    check(len(regs) == 32 and regs[8] == "eip" and regs[16] == "st0" and regs[31] == "fop",
          "target.xml: 32 registers eax..fop in gdb's order")
    check(is_error(c.cmd("qXfer:features:read:other.xml:0,100")), "qXfer of an unknown annex is an error")
    check(c.cmd("?").startswith(b"T05"), "? reports T05")
    g = c.cmd("g")
    check(len(g) == 2 * (16 * 4 + 8 * 10 + 8 * 4), "g returns 176 bytes of registers (%d hex)" % len(g))
    check(g[64:72] == b"f0ff0000" and g[80:88] == b"00f00000", "g: EIP 0xfff0, CS 0xf000")
    check(c.cmd("p8") == b"f0ff0000", "p8 (eip) = 0xfff0")
    check(is_error(c.cmd("p20")), "p of register 0x20 (out of range) is an error")
    check(is_error(c.cmd("pzz")), "p with a bad number is an error")
    check(c.cmd("vCont?").startswith(b"vCont;c;C;s;S"), "vCont? lists c, C, s, S")
    check(c.cmd("qC") == b"QC1" and c.cmd("qfThreadInfo") == b"m1", "one thread, id 1")

    # --- acks: a bad checksum is NAKed, '-' retransmits
    c.s.sendall(b"$g#00")
    check(c.read_byte() == b"-", "a bad checksum gets '-'")
    c.s.sendall(b"$?#zz")
    check(c.read_byte() == b"-", "a non-hex checksum gets '-'")
    last = c.cmd("qC")
    c.s.sendall(b"-")
    check(c.read_packet() == last, "'-' makes the stub resend its last packet")
    c.s.sendall(b"$" + b"A" * 40000 + b"#00")
    check(c.read_byte() == b"-", "a packet over PacketSize is refused with '-'")
    c.s.sendall(b"garbage+++" + frame(b"?"))
    check(c.read_byte() == b"+" and c.read_packet().startswith(b"T05"), "noise before a packet is skipped")

    # --- malformed arguments
    for bad in ("m", "mzz,4", "m0,zz", "m0", "m100000000,4", "m0,123456789", "M0,4:zz", "M0,4:0011",
                "M0,2:001122", "X0,2:a", "G00", "P8", "P8=12", "Pzz=00000000", "Z0,zz,1", "Z2,1000,0",
                "Z2,1000,41", "z2,1000,4", "z0,12345,1", "vCont;x", "T5"):
        p = c.cmd(bad)
        check(is_error(p), "%-14s -> error (%s)" % (bad, p.decode()))
    check(c.cmd("Z9,0,1") == b"", "an unsupported Z type gets an empty reply")
    check(c.cmd("qUnknownThing") == b"" and c.cmd("!") == b"", "unknown packets get empty replies")

    # --- huge lengths are clamped
    p = c.cmd("m0,ffffffff")
    check(0 < len(p) <= 0x4000 and len(p) % 2 == 0 and not is_error(p),
          "m with length 0xffffffff is clamped (%d bytes)" % (len(p) // 2))
    p = c.cmd("mfffffff0,100")
    check(len(p) == 32, "m at 0xfffffff0 stops at 4 GiB (%d bytes)" % (len(p) // 2))
    check(c.cmd("m0,0") == b"", "m with length 0 returns nothing")

    # --- run into protected mode with paging: a breakpoint at pm32
    check(c.cmd("Z0,f0100,1") == b"OK", "Z0 at 0xf0100")
    check(c.cmd("Z0,f0100,1") == b"OK", "Z0 again at the same address is OK")
    c.s.sendall(frame(b"c"))
    check(c.read_byte() == b"+", "c is acked")
    stop = c.read_packet()
    check(stop.startswith(b"T05") and b"swbreak:" in stop and b"thread:01" in stop,
          "the breakpoint stop reply is T05 swbreak (%s)" % stop.decode())
    check(c.cmd("p8") == b"00010f00", "EIP is 0xf0100")
    check(c.cmd("z0,f0100,1") == b"OK", "z0 removes it")
    check(is_error(c.cmd("z0,f0100,1")), "removing it twice is an error")

    # --- unmapped addresses (paging maps 0..4 MiB only)
    check(c.cmd("m800000,4") == b"E0e", "m of an unmapped address -> E0e")
    check(c.cmd("M800000,1:00") == b"E0e", "M to an unmapped address -> E0e")
    check(c.cmd(b"X800000,1:\x00") == b"E0e", "X to an unmapped address -> E0e")
    check(c.cmd("M3ffffe,4:00000000") == b"E0e", "M across into an unmapped page -> E0e, nothing written")
    p = c.cmd("m3ffffc,8")
    check(len(p) == 8, "m across into an unmapped page returns the mapped part (%d bytes)" % (len(p) // 2))
    check(c.cmd("mfffff000,4") == b"E0e", "m at 0xfffff000 -> E0e")

    # --- writes
    check(c.cmd("M5000,4:78563412") == b"OK" and c.cmd("m5000,4") == b"78563412", "M then m")
    raw = bytes([0x7D, 0x23, 0x24, 0x2A, 0x00, 0xFF])
    esc = b"".join(b"}" + bytes([x ^ 0x20]) if x in (0x7D, 0x23, 0x24, 0x2A) else bytes([x]) for x in raw)
    check(c.cmd(b"X5000,6:" + esc) == b"OK" and c.cmd("m5000,6") == raw.hex().encode(), "X with escaped bytes")
    check(c.cmd("X5000,0:") == b"OK", "X with length 0 (gdb's probe) is OK")
    check(c.cmd("P0=efbeadde") == b"OK" and c.cmd("p0") == b"efbeadde", "P then p (eax)")
    g = c.cmd("g")
    check(c.cmd(b"G" + g) == b"OK" and c.cmd("g") == g, "G with g's own data changes nothing")

    # --- watchpoints: every length 1..8 at odd alignment, and the limit
    ok = all(c.cmd("Z2,%x,%x" % (0x2001 + n, n)) == b"OK" and c.cmd("z2,%x,%x" % (0x2001 + n, n)) == b"OK"
             for n in range(1, 9))
    check(ok, "Z2/z2 of lengths 1..8 at unaligned addresses")
    check(c.cmd("Z3,2000,4") == b"OK" and c.cmd("Z4,2000,4") == b"OK", "Z3 and Z4")
    check(c.cmd("z3,2000,4") == b"OK" and c.cmd("z4,2000,4") == b"OK", "z3 and z4")
    results = [c.cmd("Z2,%x,1" % (0x6000 + 2 * n)) for n in range(20)]
    check(results.count(b"OK") >= 4 and is_error(results[-1]), "a full watchpoint table is an error, not a crash")
    for n in range(20):
        c.cmd("z2,%x,1" % (0x6000 + 2 * n))

    # --- a write watchpoint, then single steps
    check(c.cmd("Z2,2000,4") == b"OK", "Z2 on COUNTER")
    c.s.sendall(frame(b"c"))
    c.read_byte()
    stop = c.read_packet()
    check(stop.startswith(b"T05watch:") and b"2000" in stop, "watchpoint stop reply (%s)" % stop.decode())
    check(c.cmd("z2,2000,4") == b"OK", "z2")
    eip0 = int.from_bytes(bytes.fromhex(c.cmd("p8").decode()), "little")
    st = c.cmd("vCont;s:1")
    eip1 = int.from_bytes(bytes.fromhex(c.cmd("p8").decode()), "little")
    check(st.startswith(b"T05") and eip1 != eip0, "vCont;s steps (EIP %x -> %x)" % (eip0, eip1))
    check(c.cmd("s").startswith(b"T05"), "s steps")

    # --- Ctrl-C while running
    c.s.sendall(frame(b"vCont;c"))
    c.read_byte()
    time.sleep(0.3)
    c.s.sendall(b"\x03")
    stop = c.read_packet()
    check(stop.startswith(b"T02"), "Ctrl-C (0x03) stops the guest: %s" % stop.decode())

    # --- monitor through qRcmd
    text, fin = c.cmd_console("qRcmd," + b"info status".hex())
    check(fin == b"OK" and "paused" in text, "qRcmd 'info status' -> %r" % text.strip())
    text, fin = c.cmd_console("qRcmd," + b"info registers".hex())
    check(fin == b"OK" and "EIP=" in text and "CR0=" in text, "qRcmd 'info registers'")
    text, fin = c.cmd_console("qRcmd," + b"xp/4xb 0xffff0".hex())
    check("0xea 0x00 0x00 0x00" in text, "qRcmd 'xp/4xb 0xffff0' -> %r" % text.strip())
    check(is_error(c.cmd("qRcmd,6")), "qRcmd with odd hex is an error")

    # --- a second connection is refused
    c2 = Conn(addr)
    c2.s.sendall(b"+" + frame(b"qSupported"))
    got = b""
    try:
        while True:
            c2._fill(5)
    except EOFError:
        pass
    got = c2.buf
    check(b"already connected" in got, "a second connection is refused with a message: %r" % got[:70])
    c2.close()
    check(c.cmd("?").startswith(b"T"), "the first connection still works")

    # --- random packets: the stub answers every one, never crashes
    rnd = random.Random(1234)
    letters = "gGpPmMXZzqQH?Tv"
    alphabet = "0123456789abcdef,:;=-$#}*xyzOKqXfer"
    for n in range(3000):
        body = rnd.choice(letters) + "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 40)))
        body = body.replace("$", "").replace("#", "")
        if body.startswith("vC") or body.startswith("vK") or body.startswith("QStart"):
            continue
        try:
            c.cmd(body, timeout=5)
        except Exception as e:
            check(False, "random packet %r: %s" % (body, e))
            break
    else:
        check(True, "3000 random packets answered")
    blob = bytes(rnd.randrange(256) for _ in range(20000)).replace(b"$", b"").replace(b"\x03", b"")
    c.s.sendall(blob + b"#00")
    time.sleep(0.3)
    c.buf = b""
    c._fill(0.5)
    c.buf = b""
    check(c.cmd("?").startswith(b"T"), "random bytes do not break the stub")

    # --- no-ack mode
    check(c.cmd("QStartNoAckMode") == b"OK", "QStartNoAckMode")
    c.ack = False
    check(c.cmd("?").startswith(b"T"), "packets work without acks")

    # --- quick reconnects: a closed connection makes room for the next one
    c.close()
    try:
        for n in range(20):
            c = Conn(addr)
            ok = c.cmd("qSupported").startswith(b"PacketSize") and c.cmd("?").startswith(b"T")
            if not ok:
                break
            c.close()
    except Exception as e:
        ok = False
        print("  reconnect %d: %s" % (n, e))
    check(ok, "20 reconnects in a row are accepted")
    c = Conn(addr)

    # --- kill: the emulator exits
    c.s.sendall(frame(b"k"))
    try:
        while True:
            c._fill(10)
    except EOFError:
        check(True, "k closes the connection")
    except Exception as e:
        check(False, "k closes the connection (%s)" % e)
    print("PACKETS %s" % ("PASS" if not failures else "FAIL (%d)" % len(failures)), flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
