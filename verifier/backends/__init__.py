"""The backend registry: one table of `type` -> {"class": "module:Class", "err": install hint}.

The style of fsspec's ``registry.py``: classes are imported lazily, on first use, so a missing
optional dependency only matters to the destinations that need it and is reported with the
command that installs it. Third-party backends register through the ``verifier.backends``
entry-point group (``name = "package.module:Class"``); a built-in name always wins.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from verifier.errors import BackendUnavailable

if TYPE_CHECKING:
    from verifier.backends.base import Backend
    from verifier.settings import Destination

ENTRY_POINT_GROUP = "verifier.backends"
_AZURE = "pip install 'verifier[azure]'  (adlfs)"
BUILTIN: dict[str, dict[str, str]] = {
    "local": {"class": "verifier.backends.local:LocalBackend"},
    "s3": {"class": "verifier.backends.s3:S3Backend", "err": "pip install 'verifier[s3]'  (s3fs)"},
    "azure_blob": {"class": "verifier.backends.azure:AzureBlobBackend", "err": _AZURE},
    "adls_gen2": {"class": "verifier.backends.azure:AdlsGen2Backend", "err": _AZURE},
    "gcs": {"class": "verifier.backends.gcs:GCSBackend", "err": "pip install 'verifier[gcs]'  (gcsfs)"},
    "sftp": {"class": "verifier.backends.sftp:SFTPBackend", "err": "pip install 'verifier[sftp]'  (paramiko)"},
    "dlz": {"class": "verifier.backends.dlz:DLZBackend", "err": _AZURE},
}


class Registry:
    """The known backend types, looked up by name; passed to `config.parse` to validate one."""

    def __init__(self, table: Mapping[str, Mapping[str, str]], group: str | None = ENTRY_POINT_GROUP) -> None:
        self._builtin = {name: dict(spec) for name, spec in table.items()}
        self._group = group

    def table(self) -> dict[str, dict[str, str]]:
        # entry points are read on each call: a backend installed mid-session is seen at once
        reg = dict(self._builtin)
        for ep in entry_points(group=self._group) if self._group else ():
            reg.setdefault(ep.name, {"class": ep.value})
        return reg

    def names(self) -> list[str]:
        return sorted(self.table())

    def get_class(self, btype: str) -> type[Backend]:
        reg = self.table()
        if btype not in reg:
            raise BackendUnavailable(f"no backend of type {btype!r}; known: {', '.join(sorted(reg))}")
        module, _, cls = reg[btype]["class"].partition(":")
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            hint = reg[btype].get("err", "install the package that provides it")
            raise BackendUnavailable(f"backend {btype!r} needs {exc.name or exc}: {hint}") from None
        return getattr(mod, cls)  # type: ignore[no-any-return]

    def make(self, dest: Destination) -> Backend:
        return self.get_class(dest.type)(dest)


registry = Registry(BUILTIN)


def get_backend_class(btype: str) -> type[Backend]:
    return registry.get_class(btype)


def make_backend(dest: Destination) -> Backend:
    return registry.make(dest)
