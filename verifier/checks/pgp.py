"""OpenPGP-encrypted exports without the private key: packet framing (RFC 9580 §4.2) and recipients.

An encrypted export is one OpenPGP message: session-key packets (PKESK, tag 1; SKESK, tag 3)
then one integrity-protected data packet (SEIPD, tag 18, version 1 with MDC or version 2 with
AEAD; or LibrePGP's OCB packet, tag 20), optionally padding (tag 21). Only the framing is read
here, never decrypted: at metadata level the head (who it is for, what protects it), at full level
every packet header to the end of the file, so a truncated file, garbage after the data or a packet
that claims more bytes than the file holds is `pgp.corrupt`. Decryption is `verifier.checks.gpg`.

The walker keeps a few header bytes and the first session-key packets (at most
MAX_SESSION_PACKETS of at most MAX_SESSION_BYTES each): memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from verifier.checks import Outcome, ReadRange, limits, read_exact
from verifier.checks.formats import describe

CORRUPT = "pgp.corrupt"
WRONG_RECIPIENT = "pgp.wrong_recipient"
UNSUPPORTED = "pgp.unsupported"
FORMAT = "file.unexpected_format"
REEXPORT = "re-export this dataset run"

PKESK, SKESK, SED, MARKER, SEIPD, OCB, PADDING = 1, 3, 9, 10, 18, 20, 21
_DATA_TAGS = (SED, SEIPD, OCB)
_PARTIAL_OK = (8, SED, 11, SEIPD, OCB)  # packets that may use partial body lengths
MAX_SESSION_PACKETS = 64
MAX_SESSION_BYTES = 4096
_WILDCARD = "0" * 16


class Corrupt(Exception):
    """The framing is broken; the message says where."""


@dataclass
class Walker:
    """Feed the message's bytes front to back; `finish` at the end. Raises Corrupt."""

    size: int  # the file's listed size: a packet may not claim more
    offset: int = 0
    sessions: list[bytes] = field(default_factory=list)  # PKESK bodies, in order
    data_tag: int | None = None
    data_version: int | None = None  # first byte of the data packet's body
    _hdr: bytearray = field(default_factory=bytearray)
    _tag: int = 0
    _left: int = 0  # body bytes of the current (part of the) packet still to come
    _partial: bool = False  # more parts of the current packet follow
    _to_eof: bool = False  # legacy indeterminate length: the packet runs to the end
    _capture: bytearray | None = None
    _start: int = 0  # where the current packet began

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            if self._to_eof:
                self._body(data[i:])
                self.offset += n - i
                return
            if self._left:
                take = min(self._left, n - i)
                if self._capture is not None or self.data_version is None:
                    self._body(data[i : i + take])
                self._left -= take
                self.offset += take
                i += take
                continue
            if self._partial and not self._hdr and 224 <= data[i] < 255:
                # the common case of a big file, kept short: the next part's length in one byte
                self._left = 1 << (data[i] & 0x1F)
                self.offset += 1
                i += 1
                self._overrun(self._left)
                continue
            used = self._header(data, i)
            if used == 0:
                return  # the header continues in the next block
            i += used

    def finish(self) -> None:
        """The end of the file: anything unfinished is a truncation."""
        if self._to_eof:
            return
        if self._left or self._partial or self._hdr:
            missing = f"{self._left} bytes missing" if self._left and not self._partial else "more parts missing"
            raise Corrupt(
                f"the file ends inside packet {_name(self._tag)} that starts at byte {self._start} "
                f"({missing}): truncated (a partial upload?) — {REEXPORT}"
            )
        if self.data_tag is None:
            raise Corrupt(f"the message has no encrypted data packet — {REEXPORT}")

    # -- internals ------------------------------------------------------------------------------
    def _body(self, chunk: bytes) -> None:
        if self._capture is not None and len(self._capture) < MAX_SESSION_BYTES:
            self._capture += chunk[: MAX_SESSION_BYTES - len(self._capture)]
        if self._tag in _DATA_TAGS and self.data_version is None and chunk:
            self.data_version = chunk[0]

    def _header(self, data: bytes, i: int) -> int:
        """Parse the next (length) header, which may straddle blocks; bytes of `data` used, 0 for more."""
        had = len(self._hdr)
        self._hdr += data[i : i + 6 - had]
        parsed = self._parse(bytes(self._hdr))
        if parsed is None:
            if len(data) - i < 6 - had:
                return 0
            raise Corrupt(f"byte {self.offset}: unreadable packet header — {REEXPORT}")  # pragma: no cover
        used, length, partial = parsed
        self._hdr.clear()
        self.offset += used
        self._left, self._partial = length, partial
        if length < 0:
            self._to_eof, self._left = True, 0
        else:
            self._overrun(length)
        if not self._partial and self._left == 0 and not self._to_eof:
            self._end_packet()
        return used - had

    def _overrun(self, length: int) -> None:
        if self.offset + length > self.size:
            raise Corrupt(
                f"packet {_name(self._tag)} at byte {self._start} declares {length} more bytes at byte "
                f"{self.offset} but the file ends {self.size - self.offset} bytes later: truncated or damaged "
                f"— {REEXPORT}"
            )

    def _parse(self, h: bytes) -> tuple[int, int, bool] | None:
        """(header bytes, body length or -1 for to-the-end, partial?) or None when `h` is too short."""
        if self._partial:  # the next part's length of the current packet
            return _new_length(h, 0)
        b = h[0]
        if not b & 0x80:
            what = "garbage after the encrypted data" if self.data_tag is not None else "not an OpenPGP packet"
            raise Corrupt(f"byte {self.offset} ({b:#04x}) is not a packet header: {what} — {REEXPORT}")
        if b & 0x40:
            tag, got = b & 0x3F, _new_length(h, 1)
        else:
            tag, got = (b >> 2) & 0x0F, _legacy_length(h, b & 3)
        if got is None:
            return None
        if got[2] and tag not in _PARTIAL_OK:
            raise Corrupt(f"packet {_name(tag)} at byte {self.offset} may not have partial lengths — {REEXPORT}")
        self._end_packet()
        self._start, self._tag = self.offset, tag
        self._begin_packet()
        return got

    def _begin_packet(self) -> None:
        tag = self._tag
        if self.data_tag is not None and tag != PADDING:
            raise Corrupt(
                f"packet {_name(tag)} at byte {self._start} follows the encrypted data: garbage appended — {REEXPORT}"
            )
        if tag in _DATA_TAGS:
            self.data_tag = tag
        elif tag not in (PKESK, SKESK, MARKER, PADDING):
            raise Corrupt(
                f"packet {_name(tag)} at byte {self._start} where session keys or encrypted data were expected: "
                f"not an encrypted OpenPGP message — {REEXPORT}"
            )
        keep = tag == PKESK and len(self.sessions) < MAX_SESSION_PACKETS
        self._capture = bytearray() if keep else None

    def _end_packet(self) -> None:
        if self._capture is not None:
            self.sessions.append(bytes(self._capture))
            self._capture = None


def _new_length(h: bytes, at: int) -> tuple[int, int, bool] | None:
    if len(h) <= at:
        return None
    o = h[at]
    if o < 192:
        return at + 1, o, False
    if o < 224:
        return None if len(h) < at + 2 else (at + 2, ((o - 192) << 8) + h[at + 1] + 192, False)
    if o == 255:
        return None if len(h) < at + 5 else (at + 5, int.from_bytes(h[at + 1 : at + 5], "big"), False)
    return at + 1, 1 << (o & 0x1F), True


def _legacy_length(h: bytes, kind: int) -> tuple[int, int, bool] | None:
    if kind == 3:
        return 1, -1, False
    n = (1, 2, 4)[kind]
    return None if len(h) < 1 + n else (1 + n, int.from_bytes(h[1 : 1 + n], "big"), False)


_NAMES = {PKESK: "PKESK", SKESK: "SKESK", SED: "SED", MARKER: "marker", SEIPD: "SEIPD", OCB: "OCB", PADDING: "padding"}


def _name(tag: int) -> str:
    return f"{_NAMES.get(tag, 'tag')} ({tag})" if tag in _NAMES else f"tag {tag}"


# -- recipients ---------------------------------------------------------------------------------
def recipient_ids(sessions: Iterable[bytes]) -> list[str]:
    """Key ids (16 hex) or fingerprints (40/64 hex) the PKESK packets name; the wildcard is '0'*16."""
    out = []
    for body in sessions:
        if body[:1] == b"\x03" and len(body) >= 9:
            out.append(body[1:9].hex().upper())
        elif body[:1] == b"\x06" and len(body) >= 2:
            n = body[1]
            out.append(body[3 : 2 + n].hex().upper() if n > 1 and len(body) >= 2 + n else _WILDCARD)
    return out


def matches(found: str, wanted: str) -> bool:
    """Does a key id / fingerprint from a message name the configured fingerprint or key id?

    A v4 key id is the last 16 hex digits of its fingerprint, a v6 key id the first 16.
    """
    if len(found) == 16 and len(wanted) > 16:
        return wanted.endswith(found) if len(wanted) == 40 else wanted.startswith(found)
    if len(wanted) == 16 and len(found) > 16:
        return found.endswith(wanted) if len(found) == 40 else found.startswith(wanted)
    return found == wanted


def check_recipients(walker: Walker, wanted: tuple[str, ...], out: Outcome) -> None:
    found = recipient_ids(walker.sessions)
    if not found or _WILDCARD in found or any(matches(f, w) for f in found for w in wanted):
        return  # no public-key recipient (passwords only) or a hidden one: nothing to compare
    out.add(
        WRONG_RECIPIENT,
        f"encrypted to key {', '.join(found)}, not to the configured pgp_recipient {', '.join(wanted)}: "
        "the dataflow's connection carries another public key (or the config names the primary key: "
        "name its encryption subkey) — check the key in the destination's connection in Adobe",
    )


def check_protection(walker: Walker, out: Outcome) -> None:
    """The data packet must be integrity protected: SEIPD v1 (MDC) or v2 (AEAD), or OCB."""
    tag, version = walker.data_tag, walker.data_version
    if tag == SED:
        out.add(CORRUPT, f"the data is encrypted without integrity protection (SED, tag 9); refused — {REEXPORT}")
    elif tag == SEIPD and version not in (1, 2, None):
        out.add(CORRUPT, f"SEIPD packet version {version}, not 1 or 2 — {REEXPORT}")


# -- the checks -----------------------------------------------------------------------------------
def looks_encrypted(head: bytes, out: Outcome) -> bool:
    """Is the first byte an OpenPGP packet header? Else `file.unexpected_format`."""
    if head[:1] and head[0] & 0x80 and not head.startswith(b"\x1f\x8b"):
        return True
    if head.startswith(b"-----BEGIN PGP"):
        out.add(FORMAT, "an ASCII-armoured OpenPGP message: verifier checks binary messages only (see docs/pgp.md)")
        return False
    out.add(
        FORMAT,
        f'the destination is encrypted (encryption = "pgp") but this file\'s first bytes are {describe(head)}, '
        "not an OpenPGP message; check the encryption key in the dataflow's connection and the config",
    )
    return False


def inspect(read: ReadRange, size: int, wanted: tuple[str, ...], out: Outcome) -> Walker | None:
    """Metadata level: the head's packets — recipients and the integrity-protected data packet."""
    n = min(size, limits.PGP_HEAD_BYTES)
    head = read_exact(read, 0, n, out)
    if not looks_encrypted(head, out):
        return None
    walker = Walker(size)
    try:
        walker.feed(head)
        if n == size:
            walker.finish()
        elif walker.data_version is None:
            raise Corrupt(f"no encrypted data packet in the first {n} bytes — {REEXPORT}")
    except Corrupt as exc:
        out.add(CORRUPT, str(exc))
        return None
    check_recipients(walker, wanted, out)
    check_protection(walker, out)
    return walker


def walk(blocks: Iterable[bytes], size: int, wanted: tuple[str, ...], out: Outcome) -> None:
    """Full level without the key: every packet header to the end. Consumes `blocks` to the end
    even after a problem, so the caller's hashes cover every byte."""
    it = iter(blocks)
    walker = Walker(size)
    first = True
    try:
        for b in it:
            if first and not looks_encrypted(b, out):
                break
            first = False
            walker.feed(b)
        else:
            walker.finish()
            check_recipients(walker, wanted, out)
            check_protection(walker, out)
    except Corrupt as exc:
        out.add(CORRUPT, str(exc))
    for _ in it:
        pass
