"""A folder on the local file system (fsspec's LocalFileSystem)."""

from __future__ import annotations

import os

from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

from verifier.backends.base import Backend
from verifier.settings import Destination


def _path(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


class LocalBackend(Backend):
    type = "local"
    default_jobs = 2

    @classmethod
    def validate(cls, dest: Destination) -> None:
        if not dest.url:
            raise ValueError(
                "required: the folder, as a path (relative to the config file, or absolute) or file:///abs/path"
            )
        if not os.path.isabs(_path(dest.url)):
            raise ValueError(f"{dest.url!r} is not an absolute path")

    def make_filesystem(self) -> AbstractFileSystem:
        return LocalFileSystem()

    def root(self) -> str:
        assert self.dest.url
        return os.path.normpath(_path(self.dest.url))

    def uri(self, path: str) -> str:
        return "file://" + path

    def local_path(self, path: str) -> str | None:
        return path
