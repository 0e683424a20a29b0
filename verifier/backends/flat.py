"""One recursive listing of an object store's prefix, grouped back into folders.

Object stores have no folders: a listing without a delimiter pages through every key under a
prefix (S3 ListObjectsV2 returns 1,000 keys a request), where a folder-by-folder walk costs one
request per folder. The keys are grouped here into the same `Entry` children a folder-by-folder
`Backend.list` gives, so the layout scan and every check see exactly what they saw before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from verifier.model import Entry

#: folder path -> its direct children, as `Backend.list` would give them (sorted by path)
Tree = dict[str, list[Entry]]


def group(base: str, infos: Iterable[dict[str, Any]], normalise: Callable[[dict[str, Any]], Entry]) -> Tree:
    """Every folder at or below `base`, with its children, implied by the keys in `infos`."""
    base = base.rstrip("/")
    tree: Tree = {base: []}
    for info in infos:
        name = str(info["name"])
        path = name.rstrip("/")
        if not path.startswith(base + "/"):
            continue
        if name.endswith("/"):  # a zero-byte folder marker: the folder exists, the marker is no child
            _ensure_folder(tree, path)
            continue
        parent = path.rpartition("/")[0]
        _ensure_folder(tree, parent)
        tree[parent].append(normalise(info))
    for children in tree.values():
        children.sort(key=lambda e: e.path)
    return tree


def _ensure_folder(tree: Tree, path: str) -> None:
    if path in tree:
        return
    parent, _, name = path.rpartition("/")
    _ensure_folder(tree, parent)  # ends at `base`, which every path here lies under
    tree[path] = []
    tree[parent].append(Entry(path=path, name=name, is_dir=True))
