"""What a data file should be called and what its first bytes say it is."""

from __future__ import annotations

from verifier.config import Destination

PARQUET_MAGIC = b"PAR1"
PARQUET_ENCRYPTED_MAGIC = b"PARE"
GZIP_MAGIC = b"\x1f\x8b"

# Spark puts the codec before ".parquet": part-...-c000.gz.parquet, .snappy.parquet, ...
PARQUET_CODEC_INFIX: dict[str, str] = {
    "gz": "GZIP",
    "gzip": "GZIP",
    "snappy": "SNAPPY",
    "zstd": "ZSTD",
    "lz4": "LZ4",
    "lz4raw": "LZ4_RAW",
    "brotli": "BROTLI",
    "lzo": "LZO",
}
# destination compression -> the Parquet column-chunk codec it means
EXPECTED_CODEC: dict[str, str] = {"gzip": "GZIP", "none": "UNCOMPRESSED"}

# (format, compression) -> suffixes a data file of that destination may have; the first is
# what AEP writes. Parquet names only need the ".parquet" family at listing level: the codec
# inside is checked against the name and the destination at metadata level.
_SUFFIXES: dict[tuple[str, str], tuple[str, ...]] = {
    ("parquet", "gzip"): (".gz.parquet", ".parquet"),
    ("parquet", "none"): (".parquet",),
    ("json", "gzip"): (".json.gz",),
    ("json", "none"): (".json.gz",),  # AEP only exports JSON compressed
}
_DATA_SUFFIXES = (
    ".parquet",
    ".json.gz",
    ".json",
    ".ndjson",
    ".ndjson.gz",
    ".jsonl",
    ".jsonl.gz",
    ".csv",
    ".csv.gz",
    ".tsv",
    ".avro",
    ".orc",
)
_ENCRYPTED_SUFFIXES = (".gpg", ".pgp", ".asc")


def expected_suffixes(dest: Destination) -> tuple[str, ...]:
    """Name endings a data file of `dest` may have, the one AEP writes first."""
    return _SUFFIXES.get((dest.format, dest.compression), (".parquet",) if dest.format == "parquet" else (".json.gz",))


def is_data_name(name: str) -> bool:
    """Does `name` look like a data file (of any format, possibly PGP-encrypted)?

    Manifests (``manifest-*.json``), Hadoop side files (``.crc``, ``_SUCCESS``) and hidden
    files are not data.
    """
    low = name.lower()
    if not low or low.startswith((".", "_")) or low.endswith(".crc"):
        return False
    if low.startswith("manifest") and low.endswith(".json"):
        return False
    for enc in _ENCRYPTED_SUFFIXES:
        if low.endswith(enc):
            low = low[: -len(enc)]
            break
    return low.endswith(_DATA_SUFFIXES)


def name_matches(name: str, dest: Destination) -> bool:
    """Listing-level check: is the name of the destination's format family? An encrypted
    destination's files may also end with .gpg or .pgp (Adobe does not document a suffix)."""
    return plain_name(name, dest).lower().endswith(expected_suffixes(dest))


def plain_name(name: str, dest: Destination) -> str:
    """The name without a .gpg / .pgp suffix, on an encrypted destination."""
    if dest.encryption == "pgp" and name.lower().endswith((".gpg", ".pgp")):
        return name[:-4]
    return name


def parquet_codec_from_name(name: str) -> str | None:
    """The codec a Spark-style name announces (``x.gz.parquet`` -> GZIP), or None."""
    low = name.lower()
    if not low.endswith(".parquet"):
        return None
    stem = low[: -len(".parquet")]
    dot = stem.rfind(".")
    if dot < 0:
        return None
    return PARQUET_CODEC_INFIX.get(stem[dot + 1 :])


def sniff(first_bytes: bytes) -> str:
    """What the first bytes of a file say it is: parquet | gzip | json | unknown."""
    if first_bytes.startswith(PARQUET_MAGIC):
        return "parquet"
    if first_bytes.startswith(GZIP_MAGIC):
        return "gzip"
    head = first_bytes.lstrip(b" \t\r\n")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip(b" \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json"
    return "unknown"


def describe(first_bytes: bytes) -> str:
    """A short phrase naming what the bytes look like, for messages."""
    kind = sniff(first_bytes)
    if kind == "parquet":
        return "Parquet (PAR1 magic)"
    if kind == "gzip":
        return "gzip (1f 8b magic)"
    if kind == "json":
        return "uncompressed JSON text"
    if first_bytes.startswith(PARQUET_ENCRYPTED_MAGIC):
        return "Parquet with an encrypted footer (PARE magic)"
    if looks_pgp(first_bytes):
        return "PGP-encrypted data"
    shown = first_bytes[:4].hex(" ") or "nothing"
    return f"unrecognised bytes ({shown})"


def looks_pgp(first_bytes: bytes) -> bool:
    """ASCII-armoured, or a binary OpenPGP packet that starts a message (tags 1, 3, 8, 11)."""
    if first_bytes.startswith(b"-----BEGIN PGP"):
        return True
    if not first_bytes:
        return False
    b = first_bytes[0]
    if not b & 0x80:
        return False
    tag = b & 0x3F if b & 0x40 else (b >> 2) & 0x0F
    return tag in (1, 3, 8, 11) and not first_bytes.startswith(GZIP_MAGIC)
