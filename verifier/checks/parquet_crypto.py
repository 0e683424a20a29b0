"""Parquet modular encryption, recognised before anything touches column metadata.

A file with an encrypted footer starts and ends with ``PARE``. A file with a plaintext
footer ends with ``PAR1`` like any other, but its FileMetaData carries the encryption
algorithm (thrift field 8); pyarrow parses that footer and then aborts the whole process
(SIGABRT, "Cannot decrypt ColumnMetadata") as soon as column-chunk metadata is read without
the keys. So the footer is decoded here first, field 8 only.
"""

from __future__ import annotations

from typing import Any

from thrift.protocol.TCompactProtocol import TCompactProtocol, TCompactProtocolAccelerated
from thrift.Thrift import TType
from thrift.transport.TTransport import TMemoryBuffer

from verifier.checks import limits

ALGORITHMS = {1: "AES_GCM_V1", 2: "AES_GCM_CTR_V1"}  # the EncryptionAlgorithm union's members
_ENCRYPTION_FIELD = 8


class _Struct:
    """A thrift struct the C decoder fills in; fields not in `thrift_spec` are skipped."""

    thrift_spec: tuple[Any, ...] = ()

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class _Empty(_Struct):
    pass


class _Algorithm(_Struct):
    thrift_spec = (None, *((i, TType.STRUCT, name, [_Empty, ()], None) for i, name in ALGORITHMS.items()))


class _FileMetaData(_Struct):
    thrift_spec = (None,) * _ENCRYPTION_FIELD + (
        (_ENCRYPTION_FIELD, TType.STRUCT, "algorithm", [_Algorithm, _Algorithm.thrift_spec], None),
    )


class _SkippingProtocol(TCompactProtocol):  # type: ignore[misc]
    """The pure-Python fallback: thrift's skip() decodes binary fields as UTF-8 and fails on
    real footers (statistics are raw bytes), so strings are skipped as bytes."""

    def readString(self) -> bytes:  # thrift names it so
        return self.readBinary()  # type: ignore[no-any-return]


def footer_algorithm(footer: bytes) -> str | None:
    """The encryption algorithm a plaintext footer declares, or None.

    None too when the bytes do not decode as thrift: pyarrow has parsed them already, and
    whatever is wrong with them is its verdict, not a sign of encryption.
    """
    kw = {
        "string_length_limit": limits.THRIFT_STRING_LIMIT,
        "container_length_limit": limits.THRIFT_CONTAINER_LIMIT,
    }
    try:
        fast = TCompactProtocolAccelerated(TMemoryBuffer(footer), **kw)
        if fast._fast_decode is None:  # the C extension was not built: decode in Python
            return _scan(_SkippingProtocol(TMemoryBuffer(footer), **kw))
        md = _FileMetaData()
        fast._fast_decode(md, fast, [_FileMetaData, _FileMetaData.thrift_spec])
    except Exception:  # noqa: BLE001 - undecodable is pyarrow's call, not ours
        return None
    algo = getattr(md, "algorithm", None)
    if algo is None:
        return None
    return next((name for name in ALGORITHMS.values() if getattr(algo, name, None) is not None), "unknown")


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
