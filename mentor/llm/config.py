"""The user's LLM settings: config.toml in the user config folder (MENTOR_HOME overrides it).

```toml
profile = "deepseek"        # the active profile; absent: mentor runs offline
budget_tokens = 200000      # token budget of one session
show_reasoning = false      # show the model's reasoning text while it streams

[profiles.deepseek]         # overrides of the deepseek preset
model = "deepseek-reasoner"
```

API keys are never written here: a profile names the environment variable that holds its key.
For scripts and tests, MENTOR_BASE_URL / MENTOR_MODEL / MENTOR_API_KEY override the active profile
(MENTOR_BASE_URL alone makes a "custom" profile), and MENTOR_OFFLINE=1 forces offline mode.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.errors import MentorError
from mentor.llm.profiles import PRESETS, SETTABLE_FIELDS, STRUCTURED_MODES, Profile, build_profile

DEFAULT_BUDGET_TOKENS = 200_000
ENV_KEY = "MENTOR_API_KEY"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_LIKE = re.compile(r"^(sk-|sk_|Bearer\s)|^[A-Za-z0-9_\-]{32,}$")
_BOOL = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
_NONE = {"", "none", "null", "unset"}
_FLOAT_FIELDS = ("price_cache_hit", "price_cache_miss", "price_output")
_BOOL_FIELDS = ("stream_usage", "prices_are_estimates")
_OPT_STR_FIELDS = ("reasoning_field", "thinking_switch")
_INT_FIELDS = {"context_tokens": (1024, 10_000_000), "max_tokens": (16, 1_000_000)}


@dataclass
class Config:
    """The parsed config file (defaults when it does not exist)."""

    profile: str | None = None
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    show_reasoning: bool = False
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    exists: bool = False


def config_dir() -> Path:
    home = os.environ.get("MENTOR_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("mentor"))


def config_path() -> Path:
    return config_dir() / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read config.toml; a missing file gives the defaults, a broken one a MentorError."""
    path = path or config_path()
    cfg = Config(path=path)
    if not path.exists():
        return cfg
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
        raise MentorError(f"cannot read {path}: {e}", "fix or delete the file, then `mentor config show`") from None
    cfg.exists = True
    cfg.profile = data.get("profile") if isinstance(data.get("profile"), str) else None
    if isinstance(data.get("budget_tokens"), int) and data["budget_tokens"] > 0:
        cfg.budget_tokens = data["budget_tokens"]
    if isinstance(data.get("show_reasoning"), bool):
        cfg.show_reasoning = data["show_reasoning"]
    profiles = data.get("profiles", {})
    cfg.profiles = {k: dict(v) for k, v in profiles.items() if isinstance(v, dict)} if isinstance(profiles, dict) else {}
    return cfg


def save_config(cfg: Config, path: Path | None = None) -> Path:
    """Write config.toml atomically (no key is ever part of a Config)."""
    path = path or cfg.path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# mentor settings — `mentor config set KEY VALUE` edits this file. API keys are never stored here."]
    if cfg.profile:
        lines.append(f"profile = {_toml_value(cfg.profile)}")
    lines.append(f"budget_tokens = {cfg.budget_tokens}")
    lines.append(f"show_reasoning = {_toml_value(cfg.show_reasoning)}")
    for name, values in sorted(cfg.profiles.items()):
        if not values:
            continue
        lines += ["", f"[profiles.{_toml_key(name)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def remember(profile: Profile, field_name: str, value: Any) -> bool:
    """Persist one learned profile value (e.g. the structured-output mode that worked) in config.toml.

    Only for profiles that come from the config file: an endpoint given by MENTOR_BASE_URL is left alone.
    Returns whether it was written; a config file that cannot be written only costs the memory."""
    if os.environ.get("MENTOR_BASE_URL"):
        return False
    try:
        cfg = load_config()
        if cfg.profile != profile.name and profile.name not in cfg.profiles:
            return False
        cfg.profiles.setdefault(profile.name, {})[field_name] = value
        save_config(cfg)
        return True
    except (MentorError, OSError):
        return False


def profile_from_config(cfg: Config, name: str) -> Profile:
    """The named profile: a preset or a [profiles.NAME] table, with that table's overrides."""
    if name not in PRESETS and name not in cfg.profiles:
        raise MentorError(f"unknown profile {name!r}", f"presets: {', '.join(PRESETS)} (see `mentor config list`); "
                          f"or define one with `mentor config set {name}.base_url URL`")
    try:
        return build_profile(name, cfg.profiles.get(name))
    except MentorError:
        raise
    except Exception as e:  # pydantic ValidationError from a hand-edited file
        raise MentorError(f"profile {name!r} in {cfg.path} is invalid: {_first_error(e)}",
                          "fix it with `mentor config set` or edit the file") from None


def active_profile(offline: bool = False) -> Profile | None:
    """The profile to talk to, or None (offline) when no endpoint is configured.

    Order: offline flag / MENTOR_OFFLINE -> None; MENTOR_BASE_URL -> a "custom" profile; else the
    config file's `profile`. MENTOR_MODEL and MENTOR_API_KEY then override model and key.
    """
    if offline or os.environ.get("MENTOR_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return None
    env_url = os.environ.get("MENTOR_BASE_URL", "").strip()
    if env_url:
        prof = build_profile("custom", {"base_url": env_url, "model": "default"})
    else:
        cfg = load_config()
        if not cfg.profile:
            return None
        prof = profile_from_config(cfg, cfg.profile)
    if os.environ.get("MENTOR_MODEL", "").strip():
        prof.model = os.environ["MENTOR_MODEL"].strip()
    if os.environ.get(ENV_KEY):
        prof.key_env = ENV_KEY
    ctx = os.environ.get("MENTOR_CONTEXT_TOKENS", "").strip()
    if ctx:
        try:
            prof.context_tokens = int(ctx)
        except ValueError:
            raise MentorError(f"MENTOR_CONTEXT_TOKENS must be a whole number of tokens (>= 1024), got {ctx!r}",
                              "e.g. export MENTOR_CONTEXT_TOKENS=8192") from None
        except Exception:
            raise MentorError(f"MENTOR_CONTEXT_TOKENS must be at least 1024, got {ctx}", "e.g. export MENTOR_CONTEXT_TOKENS=8192") from None
    return prof


def env_overrides() -> list[str]:
    """Names of the MENTOR_* variables currently overriding the config (values never shown)."""
    return [n for n in ("MENTOR_BASE_URL", "MENTOR_MODEL", ENV_KEY, "MENTOR_OFFLINE", "MENTOR_CONTEXT_TOKENS") if os.environ.get(n)]


SETTINGS_HELP = ("profile NAME | budget_tokens N | show_reasoning true/false | NAME.FIELD VALUE "
                 f"(FIELD: {', '.join(SETTABLE_FIELDS)})")


def set_value(cfg: Config, key: str, value: str) -> str:
    """Apply one `mentor config set KEY VALUE` to cfg; returns a one-line description of the change."""
    key = key.strip()
    if key == "profile":
        name = value.strip()
        prof = profile_from_config(cfg, name)
        if not prof.is_complete():
            raise MentorError(f"profile {name!r} has no base_url or model yet",
                              f"set them first: `mentor config set {name}.base_url URL` and `{name}.model MODEL`")
        cfg.profile = name
        return f"active profile: {name} ({prof.model} at {prof.base_url})"
    if key == "budget_tokens":
        try:
            n = int(value.replace(",", "").strip())
        except ValueError:
            raise MentorError(f"budget_tokens must be a whole number of tokens, got {value!r}", "e.g. `mentor config set budget_tokens 200000`") from None
        if n <= 0:
            raise MentorError(f"budget_tokens must be positive, got {n}", "e.g. `mentor config set budget_tokens 200000`")
        cfg.budget_tokens = n
        return f"budget_tokens = {n}"
    if key == "show_reasoning":
        cfg.show_reasoning = _parse_bool(key, value)
        return f"show_reasoning = {str(cfg.show_reasoning).lower()}"
    if "." not in key:
        raise MentorError(f"unknown setting {key!r}", SETTINGS_HELP)
    name, fld = key.split(".", 1)
    if not name or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise MentorError(f"invalid profile name {name!r} in {key!r}", "use letters, digits, - and _ only")
    if fld in ("api_key", "key", "token"):
        raise MentorError(f"{key}: mentor never stores API keys", f"export the key in your shell and point the profile at it: "
                          f"`mentor config set {name}.key_env DEEPSEEK_API_KEY`")
    if fld not in SETTABLE_FIELDS:
        raise MentorError(f"unknown profile field {fld!r} in {key!r}", f"fields: {', '.join(SETTABLE_FIELDS)}")
    parsed = _parse_field(key, fld, value)
    overrides = {**cfg.profiles.get(name, {}), fld: "" if parsed is None else parsed}  # "" stores None
    try:
        build_profile(name, overrides)
    except MentorError:
        raise
    except Exception as e:
        raise MentorError(f"{key}: {_first_error(e)}", SETTINGS_HELP) from None
    cfg.profiles[name] = overrides
    return f"{key} = {value.strip() if parsed is not None else '(unset)'}"


def unset_value(cfg: Config, key: str) -> str:
    """Remove one override (back to the preset's value) or the active profile."""
    if key == "profile":
        cfg.profile = None
        return "no active profile: mentor runs offline"
    if key == "budget_tokens":
        cfg.budget_tokens = DEFAULT_BUDGET_TOKENS
        return f"budget_tokens = {DEFAULT_BUDGET_TOKENS} (default)"
    if key == "show_reasoning":
        cfg.show_reasoning = False
        return "show_reasoning = false (default)"
    name, _, fld = key.partition(".")
    if not fld or fld not in cfg.profiles.get(name, {}):
        raise MentorError(f"{key!r} is not set in the config file", "see `mentor config show`")
    del cfg.profiles[name][fld]
    return f"{key}: back to the preset's value"


def _parse_bool(key: str, value: str) -> bool:
    v = value.strip().lower()
    if v not in _BOOL:
        raise MentorError(f"{key} must be true or false, got {value!r}", f"e.g. `mentor config set {key} false`")
    return _BOOL[v]


def _parse_field(key: str, fld: str, value: str) -> Any:
    """Parse VALUE for a profile field; None means 'unset'. Raises MentorError naming the key."""
    v = value.strip()
    if fld in _BOOL_FIELDS:
        return _parse_bool(key, v)
    if fld == "thinking":
        return None if v.lower() in _NONE else _parse_bool(key, v)
    if fld in _FLOAT_FIELDS:
        if v.lower() in _NONE:
            return None
        try:
            f = float(v)
        except ValueError:
            raise MentorError(f"{key} must be a price in USD per 1M tokens, got {value!r}", f"e.g. `mentor config set {key} 0.27`") from None
        if f < 0:
            raise MentorError(f"{key} cannot be negative, got {f}", f"e.g. `mentor config set {key} 0.27`")
        return f
    if fld in _INT_FIELDS:
        lo, hi = _INT_FIELDS[fld]
        try:
            n = int(v.replace("_", ""))
        except ValueError:
            raise MentorError(f"{key} must be a whole number of tokens, got {value!r}", f"e.g. `mentor config set {key} 8192`") from None
        if not lo <= n <= hi:
            raise MentorError(f"{key} must be between {lo} and {hi}, got {n}", f"e.g. `mentor config set {key} 8192`")
        return n
    if fld == "structured_output":
        if v not in STRUCTURED_MODES:
            raise MentorError(f"{key} must be one of {', '.join(STRUCTURED_MODES)}, got {value!r}",
                              "`mentor config test` reports which mode your endpoint supports")
        return v
    if fld == "key_env":
        if v.lower() in _NONE:
            return None
        if not _ENV_NAME.match(v) or _KEY_LIKE.match(v) and not v.isupper():
            raise MentorError(f"{key} takes the NAME of an environment variable (like DEEPSEEK_API_KEY), not a key",
                              "mentor never stores API keys: `export DEEPSEEK_API_KEY=...` in your shell")
        return v
    if fld == "preset":
        if v not in PRESETS:
            raise MentorError(f"{key}: unknown preset {v!r}", f"presets: {', '.join(PRESETS)}")
        return v
    if fld == "base_url":
        if not re.match(r"^https?://[^\s/]+", v):
            raise MentorError(f"{key} must be an http(s) URL, got {value!r}", "e.g. https://api.deepseek.com or http://localhost:11434/v1")
        return v.rstrip("/")
    if fld in _OPT_STR_FIELDS:
        return None if v.lower() in _NONE else v
    if not v:
        raise MentorError(f"{key} cannot be empty", SETTINGS_HELP)
    return v


def _first_error(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            return f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
        except Exception:
            pass
    return str(e).splitlines()[0]
