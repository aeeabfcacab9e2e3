"""The CONFIG file (TOML): aliases, session roles, prefixes, inference profiles, prices, teams and budgets.

Owns reading and checking each section; every problem goes to the caller's error list so all are
reported together. Called only by `config.load_settings`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from generator.attribution import Profile
from generator.budgets import parse_budgets
from generator.identity import IdentityRules, parse_aliases
from generator.pricing import PriceEntryError, parse_prices
from generator.teams import parse_teams

CONFIG_KEYS = {"aliases", "session_roles", "strip_prefixes", "inference_profiles", "prices", "teams", "team_from",
               "budgets", "attribution"}  # fmt: skip


MAX_CONFIG = 1 << 20  # bytes
MAX_DEPTH = 8  # tables and arrays inside each other: the deepest real config has 3


def _depth(value: object, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def load_config_file(path: Path, errors: list[str]) -> dict[str, Any]:
    """Read the config TOML into Settings fields, appending any problem to `errors`."""
    where = f"CONFIG {path}"
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG + 1)  # bounded: CONFIG=/dev/zero must not fill the memory
        if len(data) > MAX_CONFIG:
            errors.append(f"{where}: over {MAX_CONFIG >> 20} MiB; a config is a few kilobytes")
            return {}
        doc = tomllib.loads(data.decode())
        if _depth(doc) > MAX_DEPTH:
            errors.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
            return {}
    except OSError as exc:
        errors.append(f"{where}: cannot read it ({exc.strerror or exc})")
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        errors.append(f"{where}: invalid TOML ({str(exc)[:200]})")
        return {}
    except RecursionError:
        errors.append(f"{where}: nested deeper than the TOML reader allows")
        return {}
    unknown = sorted(set(doc) - CONFIG_KEYS)
    if unknown:
        errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(CONFIG_KEYS))})")
    out: dict[str, Any] = {}

    def section(parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except PriceEntryError as exc:
            errors.append(str(exc))
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
        return None

    aliases = section(lambda: parse_aliases(_table(doc, "aliases")))
    session_roles = section(lambda: frozenset(_names(doc, "session_roles", [])))
    strip = section(lambda: tuple(_names(doc, "strip_prefixes", ["bedrock-"])))
    if None not in (aliases, session_roles, strip):
        out["identity"] = IdentityRules(session_roles, strip, aliases)
    profiles = section(lambda: _profiles(doc))
    if profiles is not None:
        out["inference_profiles"], out["profile_details"] = profiles
    prices = section(lambda: tuple(parse_prices(_list(doc, "prices"), str(path))))
    if prices is not None:
        out["prices"] = prices
    teams = section(lambda: parse_teams(_table(doc, "teams"), doc.get("team_from", "")))
    if teams is not None:
        out["teams"] = teams
    attribution = section(lambda: _table(doc, "attribution"))
    if attribution is not None:
        out["attribution_table"] = attribution  # checked with the environment's and CLI's values over it
    budgets = section(lambda: parse_budgets(_table(doc, "budgets")))
    if budgets is not None:
        out["budgets"] = budgets
    return out


def _profiles(doc: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Profile]]:
    """`[inference_profiles]`: profile ARN (or id) = model id, or = {model = "...", name = "...", tags = {...}}
    for a profile the control plane cannot describe (another account's), with the tags that name its team."""
    models, details = {}, {}
    for key, value in _table(doc, "inference_profiles").items():
        if isinstance(value, str):
            models[key] = value
            continue
        tags = value.get("tags", {}) if isinstance(value, dict) else None
        if (not isinstance(value, dict) or not isinstance(value.get("model"), str)
                or set(value) - {"model", "name", "tags"} or not isinstance(value.get("name", ""), str)
                or not isinstance(tags, dict)
                or not all(isinstance(v, str) for v in tags.values())):  # fmt: skip
            raise ValueError(f'inference_profiles.{key}: give a model id, or {{model = "...", name = "...", '
                             'tags = {team = "..."}}')  # fmt: skip
        models[key] = value["model"]
        details[key] = Profile(key, value.get("name", "") or key.rsplit("/", 1)[-1], value["model"], dict(tags))
    return models, details


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} must be a list of tables ([[{key}]])")
    return value


def _table(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a table")
    return value


def _names(doc: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = doc.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of names")
    return value
