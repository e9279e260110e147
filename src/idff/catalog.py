"""The runs ``idff.load`` opens by name: ``idff.shipped_runs()``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["shipped_runs"]


def shipped_runs() -> dict[str, Path]:
    """Every run on this machine that loads by name, with the folder it loads from.

    The runs shipped with idff (:data:`idff.runs.SHIPPED`: ``fashion_mnist/idff``, ...)
    come first, in that order, then the further runs of ``$IDFF_CHECKPOINTS`` (any
    ``NAME/config.json`` there, sorted). A shipped run missing from the list is on none of
    :func:`idff.runs.run_folders` (reinstall idff, or point ``$IDFF_CHECKPOINTS`` at a copy
    of the repository's ``checkpoints/``).

    Example::

        >>> import idff
        >>> list(idff.shipped_runs())[:2]
        ['fashion_mnist/idff', 'fashion_mnist/otcfm']
        >>> run = idff.load("fashion_mnist/idff")
    """
    import os

    from idff.runs import CACHE_ENV, SHIPPED, run_folders

    folders = run_folders()
    names = list(SHIPPED)
    extra = os.environ.get(CACHE_ENV)
    if extra:
        root = Path(extra).expanduser()
        names += sorted(p.parent.relative_to(root).as_posix()
                        for p in root.glob("**/config.json") if p.parent != root)
    found: dict[str, Path] = {}
    for name in names:
        # the folder idff.load(name) reads (a path of that name under the current
        # directory would come first; the catalogue lists the installed ones)
        where = next((d / name for d in folders if (d / name / "config.json").is_file()), None)
        if where is not None and name not in found:
            found[name] = where.resolve()
    return found
