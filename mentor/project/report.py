"""`mentor project report`: one page of the whole project, as Markdown (pictures linked) and as HTML (pictures
embedded inline, so the file opens offline on its own): config, parameters, tokens seen, curves, final losses,
samples, SFT/DPO metrics and INT8 figures when those stages ran, the machine(s) used."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentor.project.paths import ProjectPaths
from mentor.project.state import read_state, record_stage

if TYPE_CHECKING:
    from mentor.workspace import Workspace


def _f(v: Any, fmt: str = ".3f") -> str:
    return "–" if v is None else format(v, fmt) if isinstance(v, (int, float)) else str(v)


def _sections(p: ProjectPaths, st: dict[str, Any]) -> list[tuple[str, list[str], list[Path]]]:
    """(title, Markdown lines, pictures) per section."""
    from mentor.hardware import detect

    out: list[tuple[str, list[str], list[Path]]] = []
    init, tok, data, train = (st.get(k) or {} for k in ("init", "tokenizer", "data", "train"))
    out.append(("Configuration", [f"Size `{init.get('size')}`: {init.get('why', '')}.", "",
                                  "```toml", p.config.read_text(encoding="utf-8").strip(), "```"], []))
    out.append(("Model and data", [
        f"- parameters: {_f(train.get('params') or init.get('params'), ',')}",
        f"- tokenizer: your BPE, vocab {_f(tok.get('vocab_size'), '')}, {_f(tok.get('bytes_per_token'), '.2f')} bytes per token on held-out text",
        f"- corpus: {tok.get('corpus', '–')}; {_f(data.get('train_tokens'), ',')} training tokens, {_f(data.get('val_tokens'), ',')} validation tokens",
        f"- unigram baseline (validation tokens' entropy): {_f(data.get('unigram_entropy'))} nats"], []))
    if train:
        pic = Path(train["picture"]) if train.get("picture") else None
        out.append(("Training", [
            f"- iterations: {_f(train.get('iterations'), ',')}; tokens seen: {_f(train.get('tokens_seen'), ',')}",
            f"- final train loss {_f(train.get('final_train_loss'))}, final validation loss {_f(train.get('final_val_loss'))} nats "
            f"(unigram baseline {_f(data.get('unigram_entropy'))})",
            f"- device: {train.get('device')}{' (bf16 autocast)' if train.get('bf16') else ''}; {_f(train.get('tokens_per_s'), ',.0f')} tokens/s"],
            [pic] if pic and pic.is_file() else []))
    if st.get("sample"):
        s = st["sample"]
        lines = [f"temperature {s.get('temperature')}, top-k {s.get('top_k')}, top-p {s.get('top_p')}:", ""]
        for text in s.get("samples", []):
            lines += ["```text", text.strip(), "```"]
        out.append(("Samples", lines, []))
    for stage, title, what in (("sft", "Supervised fine-tuning", "held-out answer accuracy"),
                               ("dpo", "Direct preference optimization", "held-out preference accuracy")):
        d = st.get(stage)
        if d:
            pics = [Path(d["picture"])] if d.get("picture") and Path(d["picture"]).is_file() else []
            out.append((title, [f"- {what}: {_f(d.get('before'), '.1%')} before, {_f(d.get('after'), '.1%')} after "
                                f"({_f(d.get('iters'), '')} iterations)"], pics))
    if st.get("bench") or st.get("quantize"):
        b, q = st.get("bench") or {}, st.get("quantize") or {}
        lines = [f"- weights: {_f(q.get('fp32_bytes'), ',')} bytes fp32 -> {_f(q.get('int8_bytes'), ',')} bytes INT8"]
        for k in ("fp32", "int8"):
            if k in b:
                r = b[k]
                lines.append(f"- {k}: prefill {_f(r.get('prefill_tokens_per_s'), ',.0f')} tok/s, decode {_f(r.get('decode_tokens_per_s'), ',.0f')} tok/s, "
                             f"peak RSS {_f(r.get('peak_rss_mb'), ',.0f')} MiB, validation loss {_f(r.get('val_loss'))}")
        out.append(("INT8", lines, []))
    m = detect(with_torch=False)
    out.append(("Machine", [f"- report written on {m.cpu_model}, {m.cpu_cores} cores, {m.ram_gb:.0f} GB RAM"
                            + (f", GPU {m.gpu_name}" if m.gpu_name else ""),
                            f"- trained on: {train.get('device', '–')}"], []))
    return out


def write_report(ws: "Workspace") -> tuple[Path, Path]:
    p = ProjectPaths.of(ws.root)
    st = read_state(p.state)
    p.report_dir.mkdir(parents=True, exist_ok=True)
    secs = _sections(p, st)
    md = ["# My LLM: the course project", ""]
    body = ["<h1>My LLM: the course project</h1>"]
    for title, lines, pics in secs:
        md += [f"## {title}", "", *lines, ""]
        body.append(f"<h2>{html.escape(title)}</h2>")
        body.append(_html_lines(lines))
        for pic in pics:
            md += [f"![{title}]({os.path.relpath(pic, p.report_dir)})", ""]
            body.append(f'<figure>{pic.read_text(encoding="utf-8")}</figure>')
    md_path, html_path = p.report_dir / "report.md", p.report_dir / "report.html"
    md_path.write_text("\n".join(md), encoding="utf-8")
    html_path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>My LLM</title><style>"
                         "body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;padding:.5em;"
                         "white-space:pre-wrap}</style></head><body>" + "\n".join(body) + "</body></html>\n", encoding="utf-8")
    record_stage(p.state, "report", {"markdown": str(md_path), "html": str(html_path)}, stale_after=False)
    return md_path, html_path


def _html_lines(lines: list[str]) -> str:
    out, code, items = [], None, []
    for line in lines + [""]:
        if line.startswith("```"):
            if code is None:
                code = []
            else:
                out.append("<pre>" + html.escape("\n".join(code)) + "</pre>")
                code = None
            continue
        if code is not None:
            code.append(line)
        elif line.startswith("- "):
            items.append(f"<li>{html.escape(line[2:])}</li>")
        else:
            if items:
                out.append("<ul>" + "".join(items) + "</ul>")
                items = []
            if line:
                out.append(f"<p>{html.escape(line)}</p>")
    return "\n".join(out)
