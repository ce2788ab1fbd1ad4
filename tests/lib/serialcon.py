"""serialcon.py - the default guest's serial console as the Linux tests
drive it: the emulator's COM1 on its stdin/stdout (-nographic or -serial
stdio), read without blocking into a buffer with terminal escapes and CRs
removed (the raw bytes go to a log), matched with regular expressions, and
typed into one character at a time (the guest's UART has a 16-byte FIFO).

Used by tests/display/linux_fb.py, tests/snapshot/guestlib.py,
tests/net/netlib.py and bench/harness.py (they put this directory on
sys.path).
"""
import os
import re
import select
import time

ESC = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[78=>cM])")


class EscapeStripper:
    """Terminal escape sequences and CRs removed from a byte stream that
    arrives in pieces: a sequence cut by a read waits for its end."""

    def __init__(self):
        self.raw = b""

    def feed(self, data):
        """Returns the text of data (and of what waited) that is complete."""
        self.raw += data
        cut = self.raw.rfind(b"\x1b")
        if cut >= 0 and len(self.raw) - cut < 16 and not ESC.match(self.raw, cut):
            done, self.raw = self.raw[:cut], self.raw[cut:]
        else:
            done, self.raw = self.raw, b""
        return ESC.sub(b"", done).replace(b"\r", b"")


class Fail(Exception):
    """A check failed; the message says what."""


class SerialConsole:
    """Mixin for a class that runs the emulator as self.p (stdout a pipe)
    and logs to self.log (a binary file).  Call console_init() once self.p
    exists.  self.fail_prefix starts every failure message."""

    fail_prefix = ""

    def console_init(self):
        self.buf = b""
        self.pos = 0
        self.esc = EscapeStripper()

    def pump(self, deadline):
        """Read what the guest printed, until deadline (time.monotonic()).
        Returns True after a read or a quiet half second, False when the
        deadline has passed, None when the emulator closed its output."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.p.stdout], [], [], min(left, 0.5))
        if r:
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                return None
            self.log.write(data)
            self.log.flush()
            self.buf += self.esc.feed(data)
        return True

    def expect(self, pattern, timeout, what):
        """Wait up to timeout seconds for pattern after the last match;
        returns the match, raises Fail naming what on timeout or exit."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            st = self.pump(deadline)
            if st is None:
                raise Fail(f"{self.fail_prefix}the emulator ended (status {self.p.wait()}) "
                           f"while waiting for {what}")
            if st is False:
                raise Fail(f"{self.fail_prefix}timed out after {timeout:.0f}s waiting for {what}")

    def send(self, line):
        """Type line and Enter."""
        for ch in (line + "\n").encode():
            self.p.stdin.write(bytes([ch]))
            self.p.stdin.flush()
            time.sleep(0.004)
