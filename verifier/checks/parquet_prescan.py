"""What a Parquet footer says that pyarrow must not be the first to read.

pyarrow parses some footers fine and then aborts the whole process (SIGABRT from a C++
exception it cannot pass on) when column-chunk metadata is read:

- modular encryption with a plaintext footer: the FileMetaData carries the encryption
  algorithm (thrift field 8), and reading column metadata without the keys aborts
  ("Cannot decrypt ColumnMetadata"); an encrypted footer instead ends the file with ``PARE``;
- a column chunk naming a compression codec that does not exist ("Unsupported compression
  codec value"), as fuzzed files do.

So the footer is decoded here first, those fields only: the C decoder of the thrift library
skips every other field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thrift.protocol.TCompactProtocol import TCompactProtocol, TCompactProtocolAccelerated
from thrift.Thrift import TType
from thrift.transport.TTransport import TMemoryBuffer

from verifier.checks import limits

ALGORITHMS = {1: "AES_GCM_V1", 2: "AES_GCM_CTR_V1"}  # the EncryptionAlgorithm union's members
CODECS = range(8)  # UNCOMPRESSED, SNAPPY, GZIP, LZO, BROTLI, LZ4, ZSTD, LZ4_RAW
_ENCRYPTION_FIELD = 8


@dataclass
class Prescan:
    algorithm: str | None = None  # the encryption algorithm a plaintext footer declares
    bad_codec: tuple[int, int, int] | None = None  # (row group, column, codec) of the first unknown codec


class _Struct:
    """A thrift struct the C decoder fills in; fields not in `thrift_spec` are skipped."""

    thrift_spec: tuple[Any, ...] = ()

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class _Empty(_Struct):
    pass


class _Algorithm(_Struct):
    thrift_spec = (None, *((i, TType.STRUCT, name, [_Empty, ()], None) for i, name in ALGORITHMS.items()))


class _ColumnMetaData(_Struct):
    thrift_spec = (None, None, None, None, (4, TType.I32, "codec", None, None))


class _ColumnChunk(_Struct):
    thrift_spec = (
        None,
        None,
        None,
        (3, TType.STRUCT, "meta_data", [_ColumnMetaData, _ColumnMetaData.thrift_spec], None),
    )


class _RowGroup(_Struct):
    thrift_spec = (
        None,
        (1, TType.LIST, "columns", (TType.STRUCT, [_ColumnChunk, _ColumnChunk.thrift_spec], False), None),
    )


class _FileMetaData(_Struct):
    thrift_spec = (
        None,
        None,
        None,
        None,
        (4, TType.LIST, "row_groups", (TType.STRUCT, [_RowGroup, _RowGroup.thrift_spec], False), None),
        None,
        None,
        None,
        (_ENCRYPTION_FIELD, TType.STRUCT, "algorithm", [_Algorithm, _Algorithm.thrift_spec], None),
    )


class _SkippingProtocol(TCompactProtocol):  # type: ignore[misc]
    """The pure-Python fallback: thrift's skip() decodes binary fields as UTF-8 and fails on
    real footers (statistics are raw bytes), so strings are skipped as bytes."""

    def readString(self) -> bytes:  # thrift names it so
        return self.readBinary()  # type: ignore[no-any-return]


def prescan(footer: bytes) -> Prescan:
    """The encryption algorithm and the first unknown codec of a footer, each when present.

    Nothing when the bytes do not decode as thrift: pyarrow parses them next, and whatever
    is wrong with them is its verdict.
    """
    kw = {
        "string_length_limit": limits.THRIFT_STRING_LIMIT,
        "container_length_limit": limits.THRIFT_CONTAINER_LIMIT,
    }
    try:
        fast = TCompactProtocolAccelerated(TMemoryBuffer(footer), **kw)
        if fast._fast_decode is None:  # the C extension was not built: encryption only, in Python
            return Prescan(algorithm=_scan(_SkippingProtocol(TMemoryBuffer(footer), **kw)))
        md = _FileMetaData()
        fast._fast_decode(md, fast, [_FileMetaData, _FileMetaData.thrift_spec])
    except Exception:  # noqa: BLE001 - undecodable is pyarrow's call, not ours
        return Prescan()
    return Prescan(algorithm=_algorithm(md), bad_codec=_bad_codec(md))


def _algorithm(md: _FileMetaData) -> str | None:
    algo = getattr(md, "algorithm", None)
    if algo is None:
        return None
    return next((name for name in ALGORITHMS.values() if getattr(algo, name, None) is not None), "unknown")


def _bad_codec(md: _FileMetaData) -> tuple[int, int, int] | None:
    for i, rg in enumerate(getattr(md, "row_groups", None) or ()):
        for j, chunk in enumerate(getattr(rg, "columns", None) or ()):
            codec = getattr(getattr(chunk, "meta_data", None), "codec", None)
            if codec is not None and codec not in CODECS:
                return i, j, codec
    return None


def _scan(p: TCompactProtocol) -> str | None:
    p.readStructBegin()
    while True:
        _, ftype, fid = p.readFieldBegin()
        if ftype == TType.STOP:
            return None
        if fid == _ENCRYPTION_FIELD and ftype == TType.STRUCT:
            p.readStructBegin()
            _, _, member = p.readFieldBegin()
            return ALGORITHMS.get(member, "unknown")
        p.skip(ftype)
        p.readFieldEnd()
