"""Read data pickles without running code.

``pickle.load`` calls whatever a file names, so a doctored file runs its code. The
reader here resolves only the globals that plain data needs — numpy arrays, dtypes and
scalars, and a few builtin containers — and refuses any other, naming it. The CIFAR-10
python batches and the published MD layout load unchanged.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

from idff.errors import UserError

__all__ = ["UnsafePickleError", "safe_load"]

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
}


_PY2_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class UnsafePickleError(UserError):
    """A pickle that names a callable outside plain data (it could run code)."""


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (_PY2_NAMES.get(module, module), name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refusing to load {module}.{name}: this pickle holds more than arrays, numbers, "
            "strings, lists and dicts, and loading it could run code."
        )


def safe_load(path: str | os.PathLike, encoding: str = "ASCII") -> Any:
    """Unpickle ``path`` allowing only plain data (numpy arrays and builtin containers).

    Raises:
        UnsafePickleError: the file names any other global (e.g. ``os.system``).
        UserError: the file is not a pickle or is truncated.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return _DataUnpickler(io.BytesIO(data), encoding=encoding).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, ImportError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not a readable pickle ({type(e).__name__}: "
                        f"{str(e)[:120]}); check the file.") from e
