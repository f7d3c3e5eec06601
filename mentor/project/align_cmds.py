"""The later stages' commands (sft, dpo, quantize, chat, bench): they call mentor/project/align.py and serve.py."""

from __future__ import annotations

from collections.abc import Callable

import typer

from mentor.errors import MentorError

_LATER = (("sft", "Supervised fine-tuning with your SFT code on generated instruction items."),
          ("dpo", "Direct preference optimization with your DPO code on generated preference pairs."),
          ("quantize", "Your INT8 model from the trained one."),
          ("chat", "Chat with your model on the CPU, streamed with the KV cache."),
          ("bench", "fp32 vs INT8: prefill/decode tokens/s, peak RSS, weight bytes, validation loss."))


def _not_yet(stage: str, doc: str) -> Callable[[], None]:
    def cmd() -> None:
        raise MentorError(f"`mentor project {stage}` is not available yet in this version of mentor",
                          "`mentor project` shows the stages you can run now")

    cmd.__doc__ = doc + " (not available yet)"
    return cmd


def register(app: typer.Typer) -> None:
    for stage, doc in _LATER:
        app.command(name=stage)(_not_yet(stage, doc))
