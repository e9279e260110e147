"""Reading a run's ``config.json`` and checking its shape before anything is built from it.

A hand-edited config (a width as a string, a section as ``null``, an array at the top, a
file saved as UTF-16) would otherwise fail deep inside torch with a traceback. Here it is
refused in one line naming the key, the type expected and the fix. Only the keys the code
consumes are typed, read off the same places as ``--set``
(:func:`idff.config_keys.config_keys`); other keys are left to the kind that reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from idff.errors import ConfigError

__all__ = ["read_config", "check_config", "require_model"]

#: top-level entries that are sections (JSON objects) when present
SECTIONS = ("model", "objective", "train", "data", "sampling")
#: top-level entries that are strings when present
NAMES = ("kind", "method")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _decode(raw: bytes, path: Path) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(raw) > 1 and b"\x00" in raw[:4]):
        raise ConfigError(f"{path} is saved as UTF-16, not UTF-8; save it as UTF-8 (or restore "
                          "the config.json that training wrote).")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8 (or "
                          "restore the config.json that training wrote).") from None


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``, checked by :func:`check_config`.

    Raises:
        ConfigError: not UTF-8, not JSON, nested too deeply, or of the wrong shape.
    """
    path = Path(path)
    text = _decode(path.read_bytes(), path)
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}).") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a run config; restore the "
                          "config.json that training wrote.") from None
    return check_config(config, str(path))


def _key_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Example values (their type is the type expected) of the keys the code reads."""
    from idff.config_keys import config_keys

    backbone = config.get("model", {}).get("backbone", "unet")
    keys = config_keys({"model": {"backbone": backbone if isinstance(backbone, str) else ""}})
    keys.pop("data")  # each kind reads its own data keys
    keys["model"].pop("attention_resolutions", None)  # a string or a list of sizes
    if backbone == "mlp":  # its builder forwards **kwargs to MLP, whose defaults give the types
        from idff.config_keys import keyword_params
        from idff.models.mlp import MLP

        mlp = keyword_params(MLP.__init__)
        keys["model"].update({k: v for k, v in mlp.items() if v is not None}, dim=2)
    return keys


def _ok(value: Any, example: Any) -> bool:
    if example is None or value is None:
        return True
    if isinstance(example, bool):
        return isinstance(value, bool)
    if isinstance(example, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(example, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(example, str):
        return isinstance(value, str)
    if isinstance(example, (list, tuple)):
        return isinstance(value, list)
    return True


def _expected(example: Any) -> str:
    if isinstance(example, bool):
        return "true or false"
    if isinstance(example, int):
        return f"an integer (e.g. {example})"
    if isinstance(example, float):
        return f"a number (e.g. {example})"
    if isinstance(example, str):
        return f"a string (e.g. {json.dumps(example)})" if example else "a string"
    return "an array"


#: the fix named for a hand-edited file
RESTORE = "fix it or restore the config.json that training wrote."


def check_config(config: Any, where: str = "config.json", fix: str = RESTORE) -> dict[str, Any]:
    """``config`` itself when its sections are objects and the typed keys have their type.

    Raises:
        ConfigError: naming the key, what it holds and what it must hold.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"{where} holds {_describe(config)}, not a JSON object of sections "
                          f"(model, objective, train, ...); {fix}")
    for name in NAMES:
        if name in config and not isinstance(config[name], str):
            raise ConfigError(f"{where}: '{name}' must be a string, got "
                              f"{_describe(config[name])}; {fix}")
    for name in SECTIONS:
        if name in config and not isinstance(config[name], dict):
            raise ConfigError(f"{where}: '{name}' must be a JSON object of settings, got "
                              f"{_describe(config[name])}; {fix}")
    for section, typed in _key_types(config).items():
        for key, value in config.get(section, {}).items():
            if key in typed and not _ok(value, typed[key]):
                raise ConfigError(f"{where}: '{section}.{key}' must be "
                                  f"{_expected(typed[key])}, got {json.dumps(value)[:60]}; "
                                  f"{fix}")
    return config


def require_model(config: dict[str, Any], where: str) -> None:
    """Refuse a config without the ``model`` section every network is built from."""
    if "model" not in config:
        raise ConfigError(f"{where} has no 'model' section, which the network is built from; "
                          f"{RESTORE}")
