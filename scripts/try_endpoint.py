#!/usr/bin/env python3
"""Try a real OpenAI-compatible endpoint before your first session: what works, and what mentor will do.

    python scripts/try_endpoint.py --base-url http://localhost:8080/v1 --model default [--api-key-env VAR]
                                   [--context-tokens N] [--turns 4]

Runs, against that endpoint only: the `mentor config test` probes (streaming, usage, reasoning field,
each structured-output mode, the context window the server reports), then a short scripted session
in a throw-away workspace (the first unit, a few mentor questions, the session summary), then one
judge call on a prepared explanation. Prints a report: capabilities, context size, latency and tokens
per turn, whether the judge and the summary produced usable output. Not part of the test suite
(it needs your endpoint); nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUESTIONS = ["? In one sentence: why does a naive sigmoid overflow for large negative z?",
             "? What shape does x @ w have for x (N, D) and w (D, K)?",
             "? Why would np.where over both branches still warn?",
             "? Give me a hint for relu_grad at z = 0, not the code."]
ANSWER = ("With e = exp(-|z|) each branch only exponentiates a non-positive number, so the value stays in (0, 1]. "
          "np.where computes both branches for every element, so a naive branch still overflows and warns.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--api-key-env", help="NAME of the environment variable holding the key (none for local servers)")
    ap.add_argument("--context-tokens", type=int, help="the server's context window, if it does not report it")
    ap.add_argument("--structured-output", default="json_schema", help="mode to start from (falls back by itself)")
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--deadline", type=float, default=120.0, help="seconds per reply")
    args = ap.parse_args(argv)

    from mentor.errors import MentorError
    from mentor.llm.client import LLMClient
    from mentor.llm.probe import probe
    from mentor.llm.profiles import build_profile

    over = {"base_url": args.base_url.rstrip("/"), "model": args.model, "structured_output": args.structured_output}
    if args.api_key_env:
        over["key_env"] = args.api_key_env
    prof = build_profile("custom", over)
    print(f"endpoint: {prof.base_url}  model: {prof.model}  key: {prof.key_status()}")
    try:
        res = probe(prof, deadline_s=args.deadline)
    except MentorError as e:
        print(f"FAILED at the first call: {e.message}\n  hint: {e.hint}")
        return 2
    r = res.reply
    print(f"streamed reply: {r.status} in {r.latency_s:.2f}s (first token {r.first_delta_s or 0:.2f}s)")
    print(f"usage in stream: {'yes' if r.usage else 'no (mentor shows tokens and cost as unknown)'}; "
          f"reasoning field: {r.reasoning_field or 'none'}")
    for mode, verdict in res.modes.items():
        print(f"structured output {mode:<19} {verdict}")
    best = res.best_mode
    prof.structured_output = best or "none"
    if res.context_tokens:
        prof.context_tokens = res.context_tokens
    elif args.context_tokens:
        prof.context_tokens = args.context_tokens
    print(f"context window: {prof.context_tokens} tokens ({res.context_source or 'not reported; from --context-tokens or the default'})")

    with tempfile.TemporaryDirectory(prefix="mentor-try-") as tmp:
        os.environ["MENTOR_HOME"] = str(Path(tmp) / "home")
        _session(prof, Path(tmp), args)
        _judge(prof, args)
    return 0


def _session(prof, tmp: Path, args) -> None:
    from mentor.curriculum import course
    from mentor.llm.client import LLMClient
    from mentor.session.engine import SessionEngine
    from mentor.session.prompting import default_persona
    from mentor.workspace import create_workspace

    ws, _ = create_workspace(tmp / "ws", "Tester")
    events: list = []
    engine = SessionEngine(ws, course(), minutes=30, client=LLMClient(prof, deadline_s=args.deadline),
                           persona=default_persona(), emit=lambda k, t, d: events.append((k, t, d)))
    engine.start()
    if engine.compact:
        print("system prompt: compact (reference source left out to fit the context window)")
    for i, line in enumerate(QUESTIONS[: args.turns]):
        n_before = len(events)
        t0 = time.monotonic()
        engine.handle(line)
        new = events[n_before:]
        reply = next((t for k, t, _ in new if k == "reply_end"), None)
        warns = [t for k, t, _ in new if k == "warn"]
        print(f"turn {i + 1}: {'reply' if reply else 'NO REPLY'} in {time.monotonic() - t0:.1f}s, "
              f"{len(reply or '')} chars" + (f"; warnings: {' | '.join(warns)}" if warns else ""))
    ch = engine.channel
    print(f"context: ~{ch.estimate(ch.window())} tokens sent last (budget {ch.budget_tokens()}), "
          f"{ch.trimmed} old messages trimmed, {ch.tokens} tokens reported by the server")
    engine.handle("/quit")
    infos = [t for k, t, _ in events if k == "info" and "summary was not usable" in t]
    print("summary: " + ("NOT usable (kept the built-in one)" if infos else "usable (SUMMARY/NEXT)"))


def _judge(prof, args) -> None:
    from mentor.curriculum import course
    from mentor.errors import MentorError
    from mentor.llm.client import LLMClient
    from mentor.session.judge import judge

    q = course().unit("neuron").question("explain-stable-sigmoid")
    t0 = time.monotonic()
    try:
        g, record = judge(LLMClient(prof, deadline_s=args.deadline), q, ANSWER)
    except MentorError as e:
        print(f"judge: FAILED ({e.message})")
        return
    print(f"judge: {g.verdict} in {time.monotonic() - t0:.1f}s; criteria met {record.get('met')}; "
          f"mode used: {prof.structured_output}; feedback: {g.feedback[:120]!r}")


if __name__ == "__main__":
    sys.exit(main())
