"""``--set SECTION.KEY=VALUE`` merged with the options that are shortcuts for a key.

Before, a shortcut was appended after the ``--set`` list and silently won
(``--steps 7 --set train.steps=100`` trained 7 steps), and of two ``--set`` for one key the
last won. Two different values for one key are now refused, naming both; a shortcut left
at its default yields to ``--set``.
"""

from __future__ import annotations

import json
from typing import Any

from idff.errors import ConfigError
from idff.presets import parse_override

__all__ = ["merge_set"]


def merge_set(overrides: list[str] | tuple[str, ...],
              shortcuts: list[tuple[str, Any, str | None]]) -> list[str]:
    """The ``--set`` overrides followed by the shortcut options, as one override list.

    Args:
        overrides: the ``--set`` texts, in command-line order.
        shortcuts: ``(key, value, option)`` per shortcut with a value; ``option`` is how the
            command line gave it (``"--steps 7"``), or ``None`` when the value is the
            option's default, which a ``--set`` of the same key replaces.

    Raises:
        ConfigError: one key given two different values (by two ``--set``, or by an option
            and a ``--set``), naming both.
    """
    given: dict[str, tuple[Any, str]] = {}
    for text in overrides:
        path, value = parse_override(text)
        key = ".".join(path)
        if key in given and given[key][0] != value:
            raise ConfigError(f"--set {given[key][1]} and --set {text} give {key} two values; "
                              "give it once.")
        given.setdefault(key, (value, text))
    out = list(overrides)
    for key, value, option in shortcuts:
        if value is None:
            continue
        if key in given:
            if option is None:
                continue  # an option's default yields to the --set given for its key
            if json.loads(json.dumps(value)) != given[key][0]:
                raise ConfigError(f"{option} and --set {given[key][1]} both set {key}, to "
                                  "different values; give one of them.")
            continue
        out.append(f"{key}={json.dumps(value)}")
    return out
