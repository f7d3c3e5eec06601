"""The course project's settings: data/project/project.toml as a validated pydantic model, and the sizes.

[model]  the GPT constructor's arguments (vocab_size, context_length, d_model, n_layers, n_heads, d_ff, rope_theta)
[train]  batch_size, max_iters, lr_max, lr_min, warmup_iters, grad_clip, grad_accum_steps, eval_interval,
         eval_iters, weight_decay, seed
[data]   corpus ("generated" or a path to a UTF-8 text file), n_chars (generated corpus), val_fraction, special_tokens
[sft] / [dpo]  iters, lr, batch_size, max_len, n_train, n_eval (and beta for DPO)
[device] device = "auto" | "cpu" | "cuda"; threads (torch CPU threads, 0 = one per core; 1 on a busy shared machine)

A wrong type, range or unknown key is refused with file:line and the expected value, as mentor.toml is.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mentor.errors import MentorError

SPECIAL_TOKENS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
SIZES = ("tiny", "small", "gpu100m")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ModelConfig(_Strict):
    vocab_size: int = Field(ge=261, le=1_000_000)  # 256 bytes + the 5 special tokens at least
    context_length: int = Field(ge=8, le=32768)
    d_model: int = Field(ge=8, le=16384)
    n_layers: int = Field(ge=1, le=256)
    n_heads: int = Field(ge=1, le=256)
    d_ff: int = Field(ge=8, le=65536)
    rope_theta: float = Field(10000.0, gt=0)

    @model_validator(mode="after")
    def _heads_divide(self) -> "ModelConfig":
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) must be n_heads ({self.n_heads}) times an even head size (RoPE rotates pairs)")
        return self


class TrainConfig(_Strict):
    batch_size: int = Field(ge=1, le=4096)
    max_iters: int = Field(ge=1, le=10_000_000)
    lr_max: float = Field(gt=0, le=1.0)
    lr_min: float = Field(ge=0, le=1.0)
    warmup_iters: int = Field(ge=0)
    grad_clip: float = Field(1.0, gt=0)
    grad_accum_steps: int = Field(1, ge=1, le=4096)
    eval_interval: int = Field(ge=1)
    eval_iters: int = Field(ge=1, le=10_000)
    weight_decay: float = Field(0.1, ge=0, le=1.0)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _lr_order(self) -> "TrainConfig":
        if self.lr_min > self.lr_max:
            raise ValueError(f"lr_min ({self.lr_min}) must not exceed lr_max ({self.lr_max})")
        return self


class DataConfig(_Strict):
    corpus: str = Field("generated", min_length=1)
    n_chars: int = Field(ge=10_000, le=10_000_000_000)
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    special_tokens: list[str] = Field(default_factory=lambda: list(SPECIAL_TOKENS))

    @model_validator(mode="after")
    def _roles(self) -> "DataConfig":
        missing = [t for t in SPECIAL_TOKENS if t not in self.special_tokens]
        if missing:
            raise ValueError(f"special_tokens must include {', '.join(missing)} (SFT's chat template uses them)")
        return self


class SFTConfig(_Strict):
    iters: int = Field(200, ge=1)
    lr: float = Field(3e-4, gt=0, le=1.0)
    batch_size: int = Field(8, ge=1)
    max_len: int = Field(128, ge=8)
    n_train: int = Field(400, ge=1)
    n_eval: int = Field(100, ge=1)


class DPOConfig(SFTConfig):
    iters: int = Field(100, ge=1)
    lr: float = Field(1e-4, gt=0, le=1.0)
    beta: float = Field(0.1, gt=0, le=10.0)


class DeviceConfig(_Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, le=1024)  # torch CPU threads; 0 = torch's default (one per core)


class ProjectConfig(_Strict):
    size: Literal["tiny", "small", "gpu100m", "custom"] = "custom"
    model: ModelConfig
    train: TrainConfig
    data: DataConfig
    sft: SFTConfig = SFTConfig()
    dpo: DPOConfig = DPOConfig()
    device: DeviceConfig = DeviceConfig()

    def gpt_kwargs(self) -> dict[str, Any]:
        return self.model.model_dump()


# ------------------------------------------------------------------ the sizes
def _d_ff(d_model: int) -> int:
    from mentor.audit import swiglu_width

    return swiglu_width(d_model)


def preset(size: str) -> ProjectConfig:
    """The named size: tiny (minutes on 2 CPU cores), small (~10M, an 8 GB CPU laptop), gpu100m (~110M, a 16 GB GPU)."""
    if size == "tiny":
        model = dict(vocab_size=512, context_length=128, d_model=96, n_layers=3, n_heads=4, d_ff=256)
        train = dict(batch_size=16, max_iters=600, lr_max=3e-3, lr_min=3e-4, warmup_iters=30, eval_interval=50, eval_iters=5)
        data = dict(n_chars=600_000)
        sft, dpo = dict(iters=500, lr=1e-3, batch_size=8, n_train=400, n_eval=100), dict(iters=80, lr=3e-4, beta=0.1, n_train=400, n_eval=100)
    elif size == "small":
        model = dict(vocab_size=4096, context_length=256, d_model=256, n_layers=10, n_heads=8, d_ff=_d_ff(256))
        train = dict(batch_size=32, max_iters=5000, lr_max=1e-3, lr_min=1e-4, warmup_iters=200, eval_interval=250, eval_iters=20)
        data = dict(n_chars=20_000_000)
        sft, dpo = dict(iters=400, lr=3e-4, n_train=2000, n_eval=200), dict(iters=200, lr=1e-4, n_train=2000, n_eval=200)
    elif size == "gpu100m":
        model = dict(vocab_size=16384, context_length=1024, d_model=768, n_layers=12, n_heads=12, d_ff=_d_ff(768))
        train = dict(batch_size=4, grad_accum_steps=8, max_iters=20000, lr_max=6e-4, lr_min=6e-5, warmup_iters=1000,
                     eval_interval=500, eval_iters=50)
        data = dict(n_chars=100_000_000)
        sft, dpo = dict(iters=1000, lr=1e-4, max_len=256, n_train=5000, n_eval=500), dict(iters=500, lr=5e-5, max_len=256, n_train=5000, n_eval=500)
    else:
        raise MentorError(f"unknown project size {size!r}", f"choose one of auto, {', '.join(SIZES)}")
    return ProjectConfig(size=size, model=ModelConfig(**model), train=TrainConfig(**train), data=DataConfig(**data),
                         sft=SFTConfig(**sft), dpo=DPOConfig(**dpo))


def auto_size(cuda: bool, vram_gb: float | None, gpu_name: str | None) -> tuple[str, str]:
    """The size for this machine and why: a CUDA GPU with >= 12 GB -> gpu100m, else small."""
    if cuda and (vram_gb or 0) >= 12:
        return "gpu100m", f"{gpu_name} with {vram_gb:.0f} GB (>= 12 GB): the ~100M-parameter model"
    if cuda:
        return "small", f"{gpu_name} has {vram_gb or 0:.0f} GB (< 12 GB): the ~10M model"
    return "small", "no CUDA GPU: the ~10M model that trains on a CPU laptop (use --size tiny for a run of minutes)"


# ------------------------------------------------------------------ TOML in and out
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def to_toml(cfg: ProjectConfig, why: str = "") -> str:
    d = cfg.model_dump()
    lines = ["# The course project's settings (mentor project). Edit freely; stages read it when they run.",
             f"# Written by `mentor project init --size {cfg.size}`" + (f": {why}" if why else "."), "",
             f"size = {_toml_value(cfg.size)}"]
    for table in ("model", "train", "data", "sft", "dpo", "device"):
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in d[table].items()]
    return "\n".join(lines) + "\n"


def _line_of(text: str, table: str | None, key: str | None) -> int | None:
    current = None
    for i, line in enumerate(text.splitlines(), 1):
        head = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if head:
            current = head.group(1)
            if key is None and current == table:
                return i
            continue
        if current == table and key is not None and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return i
    return None


def _line_of_top(text: str, key: str | None) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            return None
        if key and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return i
    return None


def load_config(path: Path) -> ProjectConfig:
    """project.toml, validated; MentorError with file:line for each wrong value."""
    if not path.is_file():
        raise MentorError(f"no project yet: {path} does not exist", "start one with `mentor project init` (e.g. --size tiny)")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MentorError(f"{path}: invalid TOML: {e}", "fix the syntax at that line, or rewrite it with `mentor project init --force`") from None
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = [str(p) for p in e["loc"]]
            is_table = bool(loc) and loc[0] in ProjectConfig.model_fields and loc[0] != "size"
            table = loc[0] if is_table else None
            key = (loc[1] if len(loc) > 1 else None) if is_table else (loc[0] if loc else None)
            line = (_line_of(text, table, key) if key else None) or _line_of(text, table, None) if table else _line_of_top(text, key)
            where = f"{path}:{line}" if line else str(path)
            name = (f"[{table}] {key}" if key else f"[{table}]") if table else (key or "(file)")
            if e["type"] == "extra_forbidden":
                lines.append(f"{where}: unknown key {name}")
            elif e["type"] == "missing":
                lines.append(f"{where}: {name} is missing")
            else:
                got = e.get("input")
                lines.append(f"{where}: {name}: {e['msg'].removeprefix('Value error, ')}" + ("" if isinstance(got, dict) else f"; got {got!r}"))
        raise MentorError("invalid project settings:\n" + "\n".join(lines),
                          f"edit {path} and fix the value(s) above (or rewrite it: `mentor project init --force`)") from None
