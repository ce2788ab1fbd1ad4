#!/usr/bin/env python3
"""snaptool.py - inspect and damage vessel snapshot files for the tests.

The format is described in frontend/snapshot.h.  Commands (FILE is edited
in place; every command that changes bytes except 'flip' and 'truncate'
recomputes all CRCs afterwards so the loader's later checks are reached):

  sections FILE                      print: name version payload-offset length
  flip FILE OFFSET                   xor the byte at OFFSET with 0x10 (no CRC fix)
  truncate FILE LENGTH               cut the file to LENGTH bytes
  setbyte FILE OFFSET VALUE          set one byte, then fix the CRCs
  setfield FILE SECTION OFFSET HEX   write bytes into a section's payload, fix CRCs
  rename FILE OLD NEW                rename a section (same length), fix CRCs
  secver FILE SECTION VERSION        change a section's version, fix CRCs
  fixcrc FILE                        recompute every CRC
"""
import struct
import sys
import zlib

MAGIC = b"VESSELSN"


class Snap:
    def __init__(self, data):
        self.d = bytearray(data)
        if self.d[:8] != MAGIC:
            raise SystemExit("snaptool: not a vessel snapshot")
        self.hlen = struct.unpack_from("<I", self.d, 12)[0]

    # ---- header ----
    def _header_sections(self):
        """[(name, version, offset of the name's length field)] from the header."""
        p = 16
        n = struct.unpack_from("<H", self.d, p)[0]
        p += 2 + n                      # vessel version
        p += 8 + 8                      # created, RAM size
        n = struct.unpack_from("<H", self.d, p)[0]
        p += 2 + n                      # CPU model
        p += 4 + 4 + 8 + 8              # flags, shift, vtime, icount
        nsec = struct.unpack_from("<H", self.d, p)[0]
        p += 2
        out = []
        for _ in range(nsec):
            at = p
            n = struct.unpack_from("<H", self.d, p)[0]
            name = bytes(self.d[p + 2:p + 2 + n]).decode()
            p += 2 + n
            ver = struct.unpack_from("<H", self.d, p)[0]
            p += 2
            out.append((name, ver, at))
        return out

    def flags(self):
        p = 16
        n = struct.unpack_from("<H", self.d, p)[0]
        p += 2 + n + 16
        n = struct.unpack_from("<H", self.d, p)[0]
        p += 2 + n
        return struct.unpack_from("<I", self.d, p)[0]

    # ---- records ----
    def records(self):
        """Sections as dicts: name, version, rec (record offset), ver_at,
        len_at, crc_at, payload, length; then memory chunks and the end."""
        secs = []
        p = self.hlen
        for _ in self._header_sections():
            assert self.d[p:p + 4] == b"SECT", "bad section marker at %d" % p
            rec = p
            p += 4
            n = struct.unpack_from("<H", self.d, p)[0]
            name = bytes(self.d[p + 2:p + 2 + n]).decode()
            p += 2 + n
            ver_at = p
            ver = struct.unpack_from("<H", self.d, p)[0]
            length = struct.unpack_from("<I", self.d, p + 2)[0]
            crc_at = p + 6
            payload = p + 10
            secs.append(dict(name=name, version=ver, rec=rec, name_at=rec + 6, ver_at=ver_at,
                             crc_at=crc_at, payload=payload, length=length))
            p = payload + length
        chunks = []
        for tag in ([b"RAM ", b"VRAM"] if self.flags() & 2 else [b"RAM "]):
            assert self.d[p:p + 4] == tag, "bad memory marker at %d" % p
            nchunks = struct.unpack_from("<I", self.d, p + 16)[0]
            p += 20
            for _ in range(nchunks):
                comp = struct.unpack_from("<I", self.d, p + 36)[0]
                chunks.append((p, comp))
                p += 44 + comp
        assert self.d[p:p + 4] == b"END!", "bad end marker at %d" % p
        return secs, chunks, p

    def fix_crcs(self):
        struct.pack_into("<I", self.d, self.hlen - 4, zlib.crc32(self.d[:self.hlen - 4]))
        secs, chunks, end = self.records()
        for s in secs:
            body = self.d[s["payload"]:s["payload"] + s["length"]]
            struct.pack_into("<I", self.d, s["crc_at"], zlib.crc32(body))
        for at, comp in chunks:
            crc = zlib.crc32(self.d[at:at + 40] + self.d[at + 44:at + 44 + comp])
            struct.pack_into("<I", self.d, at + 40, crc)
        struct.pack_into("<I", self.d, end + 12, zlib.crc32(self.d[:end + 12]))

    def section(self, name):
        for s in self.records()[0]:
            if s["name"] == name:
                return s
        raise SystemExit("snaptool: no section '%s'" % name)


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    cmd, path = argv[1], argv[2]
    with open(path, "rb") as f:
        data = f.read()
    if cmd == "truncate":
        data = data[:int(argv[3], 0)]
    elif cmd == "flip":
        b = bytearray(data)
        b[int(argv[3], 0)] ^= 0x10
        data = bytes(b)
    else:
        s = Snap(data)
        if cmd == "sections":
            for r in s.records()[0]:
                print(r["name"], r["version"], r["payload"], r["length"])
            return 0
        if cmd == "setbyte":
            s.d[int(argv[3], 0)] = int(argv[4], 0) & 0xFF
        elif cmd == "setfield":
            r = s.section(argv[3])
            off = int(argv[4], 0)
            val = bytes.fromhex(argv[5])
            assert off + len(val) <= r["length"], "field beyond the section"
            s.d[r["payload"] + off:r["payload"] + off + len(val)] = val
        elif cmd == "rename":
            old, new = argv[3].encode(), argv[4].encode()
            assert len(old) == len(new)
            r = s.section(argv[3])
            for name, _, at in s._header_sections():
                if name == argv[3]:
                    s.d[at + 2:at + 2 + len(old)] = new
            s.d[r["name_at"]:r["name_at"] + len(old)] = new
        elif cmd == "secver":
            r = s.section(argv[3])
            v = int(argv[4], 0)
            for name, _, at in s._header_sections():
                if name == argv[3]:
                    struct.pack_into("<H", s.d, at + 2 + len(name), v)
            struct.pack_into("<H", s.d, r["ver_at"], v)
        elif cmd != "fixcrc":
            print(__doc__)
            return 2
        s.fix_crcs()
        data = bytes(s.d)
    with open(path, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
