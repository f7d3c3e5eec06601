"""mentor config show | set KEY VALUE | unset KEY | list | test — the LLM endpoint settings.

Thin: parsing and output only; the logic lives in mentor/llm/. API keys are never printed: only
whether the profile's key variable is set.
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True, help="The mentor LLM: provider profile, key variable, budget, reasoning display.")


@app.command("show")
def show(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The active profile, the config file, and whether the key variable is set (never the key)."""
    from mentor.llm.config import active_profile, config_path, env_overrides, load_config

    cfg = load_config()
    prof = active_profile()
    data = {
        "config_file": str(config_path()), "config_exists": cfg.exists,
        "profile": prof.name if prof else None, "offline": prof is None,
        "env_overrides": env_overrides(), "budget_tokens": cfg.budget_tokens, "show_reasoning": cfg.show_reasoning,
        "settings": prof.model_dump() if prof else None,
        "key": prof.key_status() if prof else None,
    }
    if json_out:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"config file: {data['config_file']}" + ("" if cfg.exists else " (not created yet)"))
    if data["env_overrides"]:
        typer.echo(f"environment overrides: {', '.join(data['env_overrides'])}")
    if prof is None:
        typer.echo("profile: none — mentor runs offline (lessons, questions, hints and checks still work)")
        typer.echo("  choose one: mentor config list, then e.g. mentor config set profile deepseek")
    else:
        typer.echo(f"profile: {prof.name} (preset {prof.preset})")
        typer.echo(f"  base_url: {prof.base_url}\n  model: {prof.model}\n  key: {prof.key_status()}")
        typer.echo(f"  structured_output: {prof.structured_output}   stream_usage: {str(prof.stream_usage).lower()}"
                   f"   reasoning_field: {prof.reasoning_field or '-'}")
        if prof.thinking_switch:
            typer.echo(f"  thinking: {prof.thinking_switch} = {'(provider default)' if prof.thinking is None else str(prof.thinking).lower()}")
        typer.echo(f"  prices (USD / 1M tokens): {_prices(prof)}")
    typer.echo(f"budget_tokens: {cfg.budget_tokens}\nshow_reasoning: {str(cfg.show_reasoning).lower()}")


@app.command("set")
def set_(key: str = typer.Argument(..., help="profile | budget_tokens | show_reasoning | NAME.FIELD"),
         value: str = typer.Argument(..., help="The new value.")) -> None:
    """Change one setting, e.g. `profile deepseek`, `deepseek.model deepseek-reasoner`, `budget_tokens 200000`."""
    from mentor.llm.config import load_config, save_config, set_value

    cfg = load_config()
    msg = set_value(cfg, key, value)
    path = save_config(cfg)
    typer.echo(f"{msg}  ({path})")


@app.command("unset")
def unset(key: str = typer.Argument(..., help="profile | budget_tokens | show_reasoning | NAME.FIELD")) -> None:
    """Remove a setting: back to the preset's (or the default) value."""
    from mentor.llm.config import load_config, save_config, unset_value

    cfg = load_config()
    msg = unset_value(cfg, key)
    save_config(cfg)
    typer.echo(msg)


@app.command("list")
def list_() -> None:
    """The provider presets (prices are estimates; check the provider's price page)."""
    from mentor.llm.profiles import PRESET_NOTES, build_profile

    for name in PRESET_NOTES:
        p = build_profile(name)
        typer.echo(f"{name:<9} {PRESET_NOTES[name]}")
        if p.base_url:
            typer.echo(f"          {p.base_url}  model {p.model}  key {p.key_env or '(none)'}  prices {_prices(p)}")


@app.command("test")
def test(deadline: float = typer.Option(60.0, "--deadline", help="Seconds allowed per call."),
         quick: bool = typer.Option(False, "--quick", help="Only the streamed call; skip the structured-output probes.")) -> None:
    """One tiny streamed call: latency, streamed usage, reasoning field, and which structured-output mode works."""
    from mentor.errors import MentorError
    from mentor.llm.config import active_profile
    from mentor.llm.probe import probe

    prof = active_profile()
    if prof is None:
        raise MentorError("no LLM endpoint configured: mentor runs offline",
                          "pick a provider: `mentor config list`, then `mentor config set profile deepseek`")
    if not prof.is_complete():
        raise MentorError(f"profile {prof.name} has no base_url or model", f"`mentor config set {prof.name}.base_url URL`")
    typer.echo(f"testing {prof.name}: {prof.model} at {prof.base_url} (key: {prof.key_status()})")
    res = probe(prof, deadline_s=deadline, structured=not quick)
    r = res.reply
    first = f", first token {r.first_delta_s:.2f}s" if r.first_delta_s is not None else ""
    typer.echo(f"reply: {r.status} in {r.latency_s:.2f}s{first} ({r.attempts} attempt(s)): {r.content.strip()[:60]!r}")
    if r.error:
        typer.echo(f"  note: {r.error}")
    if r.usage is not None:
        u = r.usage
        cost = f", cost ≈ ${r.cost_usd:.6f}" if r.cost_usd is not None else ""
        typer.echo(f"streaming usage: yes (prompt {u.prompt_tokens}, cached {_n(u.cached_tokens)}, "
                   f"completion {u.completion_tokens}, reasoning {_n(u.reasoning_tokens)}{cost})")
    else:
        typer.echo("streaming usage: no (token counts and costs will show as unknown)"
                   + ("" if prof.stream_usage else f"; enable with `mentor config set {prof.name}.stream_usage true`"))
    typer.echo(f"reasoning field: {r.reasoning_field or 'none seen'}")
    _report_context(prof, res)
    if quick:
        return
    for mode, verdict in res.modes.items():
        typer.echo(f"structured output {mode}: {verdict}")
    best = res.best_mode
    if best is None:
        typer.echo("no structured-output mode worked: graded explanations will fall back to offline grading")
    elif best != prof.structured_output:
        from mentor.llm.config import remember

        if remember(prof, "structured_output", best):
            typer.echo(f"structured output: set {prof.name}.structured_output = {best} (was {prof.structured_output})")
        else:
            typer.echo(f"suggest: mentor config set {prof.name}.structured_output {best}")
    else:
        typer.echo(f"structured output: {best} (as configured)")


def _report_context(prof: object, res: object) -> None:
    from mentor.llm.config import remember

    n, source = getattr(res, "context_tokens"), getattr(res, "context_source")
    have = getattr(prof, "context_tokens")
    if n is None:
        typer.echo(f"context window: not reported by the server; assuming {have} tokens "
                   f"(set the real size: `mentor config set {getattr(prof, 'name')}.context_tokens N`)")
    elif n != have and remember(prof, "context_tokens", n):  # type: ignore[arg-type]
        typer.echo(f"context window: {n} tokens ({source}); set {getattr(prof, 'name')}.context_tokens = {n} (was {have})")
    else:
        typer.echo(f"context window: {n} tokens ({source})" + ("" if n == have else f"; the profile says {have}"))
    if (n or have) < 16384:
        typer.echo("  note: below 16K tokens the session uses a compact system prompt and trims old turns; "
                   "16K-32K is recommended (README: local servers)")


def _prices(p: object) -> str:
    hit, miss, out = (getattr(p, f) for f in ("price_cache_hit", "price_cache_miss", "price_output"))
    if miss is None or out is None:
        return "unknown"
    est = " (estimates)" if getattr(p, "prices_are_estimates") else ""
    return f"cache hit {_n(hit)} / cache miss {miss} / output {out}{est}"


def _n(v: object) -> str:
    return "unknown" if v is None else str(v)


def register(app_: typer.Typer) -> None:
    """Mount as `mentor config ...` (cli.py: `config_cmd.register(app)`)."""
    app_.add_typer(app, name="config", help="The mentor LLM: provider profile, key variable, budget, reasoning display.")
