"""Provider profiles: where the mentor LLM lives, what it can do, and what it costs.

A profile is a preset (DeepSeek, Qwen/DashScope, OpenAI, Ollama, vLLM, llama.cpp, custom) with the
user's overrides from config.toml applied. It holds the NAME of the environment variable with the
API key, never the key itself: `Profile.api_key()` reads the environment at call time.

Prices are USD per 1M tokens, split into cache-hit input, cache-miss input and output. The preset
prices are estimates taken from the providers' public price lists (2025) and go out of date;
override them with `mentor config set NAME.price_output 1.10` and friends.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StructuredMode = Literal["json_schema", "json_object_schema", "json_object", "none"]
#: Best first. json_object_schema is llama-cpp-python's form: {"type": "json_object", "schema": {...}}.
STRUCTURED_MODES: tuple[str, ...] = ("json_schema", "json_object_schema", "json_object", "none")


class Profile(BaseModel):
    """One OpenAI-compatible endpoint and what mentor knows about it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(description="Profile name (a preset name or your own).")
    preset: str = Field("custom", description="The preset this profile starts from.")
    base_url: str = Field("", description="OpenAI-compatible base URL, e.g. https://api.deepseek.com.")
    model: str = Field("", description="Model name sent with every request.")
    key_env: str | None = Field(None, description="NAME of the environment variable holding the API key (none: no key).")
    structured_output: StructuredMode = Field(
        "json_object", description="json_schema | json_object_schema | json_object | none (ask for a fenced ```json block).")
    context_tokens: int = Field(32768, ge=1024, description="The model's context window in tokens (the session keeps within it).")
    max_tokens: int = Field(1024, ge=16, description="Upper bound on the tokens of one mentor reply (sent with every request).")
    stream_usage: bool = Field(True, description="Ask for token usage in streams (stream_options.include_usage).")
    reasoning_field: str | None = Field(
        None, description="Delta field carrying reasoning text (reasoning_content or reasoning); both are always read.")
    thinking_switch: str | None = Field(None, description="extra_body key that turns thinking on/off, e.g. enable_thinking.")
    thinking: bool | None = Field(None, description="Value sent for thinking_switch (unset: the provider's default).")
    price_cache_hit: float | None = Field(None, ge=0, description="USD per 1M input tokens served from the prompt cache.")
    price_cache_miss: float | None = Field(None, ge=0, description="USD per 1M input tokens not in the cache.")
    price_output: float | None = Field(None, ge=0, description="USD per 1M output tokens (reasoning included).")
    prices_are_estimates: bool = Field(True, description="Preset prices are estimates; check the provider's price page.")

    def api_key(self) -> str | None:
        """The key from the environment (never stored anywhere by mentor)."""
        if not self.key_env:
            return None
        return os.environ.get(self.key_env) or None

    def key_status(self) -> str:
        """'not needed', 'KEY_ENV is set' or 'KEY_ENV is NOT set' — never the key."""
        if not self.key_env:
            return "not needed"
        return f"{self.key_env} is set" if self.api_key() else f"{self.key_env} is NOT set"

    def is_complete(self) -> bool:
        return bool(self.base_url.strip() and self.model.strip())

    def cost_usd(self, prompt_tokens: int | None, cached_tokens: int | None, completion_tokens: int | None) -> float | None:
        """Estimated cost of one call, or None when usage or prices are unknown."""
        if prompt_tokens is None or completion_tokens is None:
            return None
        if self.price_cache_miss is None or self.price_output is None:
            return None
        hit = min(cached_tokens or 0, prompt_tokens)
        hit_price = self.price_cache_hit if self.price_cache_hit is not None else self.price_cache_miss
        return (hit * hit_price + (prompt_tokens - hit) * self.price_cache_miss + completion_tokens * self.price_output) / 1e6


def _local(name: str, url: str, model: str, structured: str, reasoning: str | None, context: int) -> dict[str, Any]:
    return dict(name=name, preset=name, base_url=url, model=model, key_env=None, structured_output=structured,
                context_tokens=context,
                stream_usage=True, reasoning_field=reasoning, price_cache_hit=0.0, price_cache_miss=0.0,
                price_output=0.0, prices_are_estimates=False)


_QWEN = dict(model="qwen-plus", key_env="DASHSCOPE_API_KEY", structured_output="json_object", stream_usage=True, context_tokens=131072,
             reasoning_field="reasoning_content", thinking_switch="enable_thinking")

PRESETS: dict[str, dict[str, Any]] = {
    # DeepSeek: deepseek-chat; deepseek-reasoner streams `reasoning_content`. JSON output is json_object only.
    "deepseek": dict(name="deepseek", preset="deepseek", base_url="https://api.deepseek.com", model="deepseek-chat",
                     key_env="DEEPSEEK_API_KEY", structured_output="json_object", stream_usage=True, context_tokens=65536,
                     reasoning_field="reasoning_content", price_cache_hit=0.07, price_cache_miss=0.27, price_output=1.10),
    # Qwen on Alibaba Cloud Model Studio (DashScope), international endpoint; qwen-plus / qwen3-max.
    "qwen": dict(name="qwen", preset="qwen", base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                 price_cache_hit=0.08, price_cache_miss=0.40, price_output=1.20, **_QWEN),
    # Mainland China endpoint (prices converted from CNY: 0.8 / 2 CNY per 1M).
    "qwen-cn": dict(name="qwen-cn", preset="qwen-cn", base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
                    price_cache_hit=0.022, price_cache_miss=0.11, price_output=0.28, **_QWEN),
    "openai": dict(name="openai", preset="openai", base_url="https://api.openai.com/v1", model="gpt-4o-mini",
                   key_env="OPENAI_API_KEY", structured_output="json_schema", stream_usage=True, reasoning_field=None,
                   context_tokens=128000,
                   price_cache_hit=0.075, price_cache_miss=0.15, price_output=0.60),
    # Local servers: the context is what the server was started with (Ollama: num_ctx; llama.cpp: -c), not the model's maximum.
    "ollama": _local("ollama", "http://localhost:11434/v1", "qwen3:8b", "json_schema", "reasoning", 8192),
    "vllm": _local("vllm", "http://localhost:8000/v1", "Qwen/Qwen3-8B", "json_schema", "reasoning_content", 32768),
    "llamacpp": _local("llamacpp", "http://localhost:8080/v1", "default", "json_object_schema", "reasoning_content", 8192),
    # Anything else OpenAI-compatible: set base_url, model and key_env yourself. No prices known.
    "custom": dict(name="custom", preset="custom", base_url="", model="", key_env=None, structured_output="json_object",
                   context_tokens=32768,
                   stream_usage=True, reasoning_field=None, prices_are_estimates=False),
}

PRESET_NOTES: dict[str, str] = {
    "deepseek": "DeepSeek; model deepseek-reasoner streams reasoning_content",
    "qwen": "Qwen via DashScope (international); qwen-plus, qwen3-max; thinking via enable_thinking",
    "qwen-cn": "Qwen via DashScope (mainland China)",
    "openai": "OpenAI; gpt-4o-mini and others",
    "ollama": "Ollama on this machine, no key",
    "vllm": "vLLM server on this machine, no key",
    "llamacpp": "llama.cpp llama-server on this machine, no key",
    "custom": "any OpenAI-compatible endpoint: set base_url, model, key_env",
}

#: Fields that may be None; config.toml stores None as "" (TOML has no null).
NULLABLE_FIELDS: tuple[str, ...] = ("key_env", "reasoning_field", "thinking_switch", "thinking",
                                    "price_cache_hit", "price_cache_miss", "price_output")

#: Profile fields a user may set with `mentor config set NAME.FIELD VALUE`.
SETTABLE_FIELDS: tuple[str, ...] = tuple(f for f in Profile.model_fields if f not in ("name",))


def build_profile(name: str, overrides: dict[str, Any] | None = None) -> Profile:
    """The preset called `name` (or the one named in overrides['preset'], else custom) plus overrides."""
    overrides = {k: (None if v == "" and k in NULLABLE_FIELDS else v) for k, v in (overrides or {}).items()}
    preset = str(overrides.get("preset") or (name if name in PRESETS else "custom"))
    if preset not in PRESETS:
        from mentor.errors import MentorError

        raise MentorError(f"profile {name!r}: unknown preset {preset!r}", f"presets: {', '.join(PRESETS)}")
    data = {**PRESETS[preset], **overrides, "name": name, "preset": preset}
    return Profile.model_validate(data)
