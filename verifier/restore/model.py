"""The shape of a restore plan: files, the links of a chain, the destinations tried, the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from verifier.exitcodes import ERRORS, OK
from verifier.findings import Finding
from verifier.model import Checksum

#: the checksum a plan shows (and a restore names first): (algo, source) in order of preference
CHECKSUM_PREFERENCE: tuple[tuple[str, str], ...] = (
    ("md5", "computed"),
    ("md5", "service"),
    ("md5", "client"),
    ("crc32c", "computed"),
    ("crc32c", "service"),
    ("crc32c", "client"),
)


@dataclass
class PlanFile:
    name: str
    uri: str
    size: int
    record_count: int | None
    status: str
    checksums: list[Checksum] = field(default_factory=list)  # every one recorded: computed and native
    problem: str | None = None  # why this file cannot be restored

    @property
    def checksum(self) -> Checksum | None:
        """The checksum shown, and verified first: computed MD5, native MD5, then CRC32C, then any."""
        for algo, source in CHECKSUM_PREFERENCE:
            for c in self.checksums:
                if c.algo == algo and c.source == source:
                    return c
        return self.checksums[0] if self.checksums else None


class FileSource(Protocol):
    """Where a link's files come from until someone asks for them: the catalog's rows, read
    together as columns (restore/catalogread.py), turned into PlanFile objects only when needed."""

    count: int
    total_bytes: int
    record_count: int | None

    def suspects(self) -> list[int]:
        """Indices (in file order) of every file that may not be restorable; the others certainly are."""
        ...

    def file(self, i: int) -> PlanFile:
        """The i-th file (the same object every time, and in `files()`)."""
        ...

    def files(self) -> list[PlanFile]: ...


@dataclass
class Link:
    """One export of a chain.

    Its files are built on first use: a plan of a long chain asks the totals of every link but
    the files of few (`source`); `files` is the full list, in name order.
    """

    export_time: datetime
    export_time_raw: str
    uri: str
    kind: str | None
    status: str
    level: str | None
    verified_at: datetime | None
    _files: list[PlanFile] | None = field(default=None, repr=False)
    problem: str | None = None  # why this link breaks the chain
    source: FileSource | None = field(default=None, repr=False, compare=False)

    @property
    def files(self) -> list[PlanFile]:
        if self._files is None:
            self._files = self.source.files() if self.source is not None else []
        return self._files

    @files.setter
    def files(self, value: list[PlanFile]) -> None:
        self._files, self.source = value, None

    @property
    def folder(self) -> str:
        return f"exportTime={self.export_time_raw}"

    @property
    def file_count(self) -> int:
        return self.source.count if self._files is None and self.source is not None else len(self.files)

    @property
    def total_bytes(self) -> int:
        if self._files is None and self.source is not None:
            return self.source.total_bytes
        return sum(f.size for f in self.files)

    @property
    def record_count(self) -> int | None:
        if self._files is None and self.source is not None:
            return self.source.record_count
        counts = [f.record_count for f in self.files]
        return None if None in counts else sum(c for c in counts if c is not None)

    def suspect_files(self) -> list[PlanFile]:
        """The files that may not be restorable, in order (every one when they are not from the catalog)."""
        if self._files is None and self.source is not None:
            return [self.source.file(i) for i in self.source.suspects()]
        return self.files


@dataclass
class Attempt:
    """One destination considered for the plan."""

    destination: str
    type: str | None
    export_mode: str
    configured: bool
    recorded: int  # exports of the dataset the catalog knows there
    links: list[Link] = field(default_factory=list)
    problem: str | None = None  # why its chain cannot be used (None: intact)
    hint: str | None = None  # the latest restorable point, when there is one
    used: bool = False
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def broken_links(self) -> list[Link]:
        return [lk for lk in self.links if lk.problem]


@dataclass
class Plan:
    dataset_id: str
    as_of: datetime
    allow_unverified: bool
    preferred: str | None
    attempts: list[Attempt]
    findings: list[Finding]
    message: str

    @property
    def chosen(self) -> Attempt | None:
        return next((a for a in self.attempts if a.used), None)

    @property
    def shown(self) -> Attempt | None:
        """The chain to show: the one used, else the first with any links."""
        return self.chosen or next((a for a in self.attempts if a.links), None)

    @property
    def intact(self) -> bool:
        return self.chosen is not None

    @property
    def links(self) -> list[Link]:
        a = self.shown
        return a.links if a else []

    @property
    def exit_code(self) -> int:
        return OK if self.intact else ERRORS

    @property
    def total_bytes(self) -> int:
        return sum(lk.total_bytes for lk in self.links)

    @property
    def total_records(self) -> int | None:
        counts = [lk.record_count for lk in self.links]
        return None if None in counts else sum(c for c in counts if c is not None)

    @property
    def file_count(self) -> int:
        return sum(lk.file_count for lk in self.links)
