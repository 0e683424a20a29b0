"""The backend registry: `type` -> module:class, imported lazily.

Third-party backends register through the ``verifier.backends`` entry-point group
(``name = "package.module:Class"``). A missing optional dependency is reported with the
command that installs it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from verifier.errors import BackendUnavailable

if TYPE_CHECKING:
    from verifier.backends.base import Backend
    from verifier.config import Destination

BUILTIN: dict[str, str] = {
    "local": "verifier.backends.local:LocalBackend",
    "s3": "verifier.backends.s3:S3Backend",
    "azure_blob": "verifier.backends.azure:AzureBlobBackend",
    "adls_gen2": "verifier.backends.azure:AdlsGen2Backend",
    "gcs": "verifier.backends.gcs:GCSBackend",
    "sftp": "verifier.backends.sftp:SFTPBackend",
    "dlz": "verifier.backends.dlz:DLZBackend",
}
INSTALL_HINTS: dict[str, str] = {
    "s3": "pip install 'verifier[s3]'  (s3fs)",
    "azure_blob": "pip install 'verifier[azure]'  (adlfs)",
    "adls_gen2": "pip install 'verifier[azure]'  (adlfs)",
    "dlz": "pip install 'verifier[azure]'  (adlfs)",
    "gcs": "pip install 'verifier[gcs]'  (gcsfs)",
    "sftp": "pip install 'verifier[sftp]'  (paramiko)",
}


def _registry() -> dict[str, str]:
    reg = dict(BUILTIN)
    for ep in entry_points(group="verifier.backends"):
        reg.setdefault(ep.name, ep.value)
    return reg


def known_types() -> list[str]:
    return sorted(_registry())


def get_backend_class(btype: str) -> type[Backend]:
    reg = _registry()
    if btype not in reg:
        raise BackendUnavailable(f"no backend of type {btype!r}; known: {', '.join(sorted(reg))}")
    module, _, cls = reg[btype].partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(btype, "install the package that provides it")
        raise BackendUnavailable(f"backend {btype!r} needs {exc.name or exc}: {hint}") from None
    return getattr(mod, cls)  # type: ignore[no-any-return]


def make_backend(dest: Destination) -> Backend:
    return get_backend_class(dest.type)(dest)
