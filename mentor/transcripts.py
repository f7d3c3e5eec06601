"""`mentor log`: list sessions, show or export a transcript as Markdown, search past talk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from mentor.errors import MentorError
from mentor.store.models import Message
from mentor.store.models import Session as SessionRow


def transcript_markdown(db: Any, sid: int) -> str:
    with Session(db) as s:
        row = s.get(SessionRow, sid)
        if row is None:
            raise MentorError(f"no session {sid}", "list sessions with `mentor log --list`")
        msgs = s.exec(select(Message).where(Message.session_id == sid).order_by(Message.id)).all()
    out = [f"# Session {sid} — {row.started_at}", "",
           f"unit {row.unit_id or '-'} · {row.minutes_planned} min planned · mentor {row.mentor_name} ({row.mentor_hash}) · "
           + (f"{row.provider} / {row.model}" if not row.offline else "offline"), ""]
    for m in msgs:
        if m.role == "system":
            continue
        meta = []
        if m.completion_tokens is not None:
            meta.append(f"{m.prompt_tokens} in ({m.cached_tokens or 0} cached) / {m.completion_tokens} out")
        if m.cost_usd is not None:
            meta.append(f"${m.cost_usd:.4f}")
        if m.latency_s is not None:
            meta.append(f"{m.latency_s:.1f}s")
        if m.status != "complete":
            meta.append(m.status)
        out += [f"## {m.role} · {m.created_at}" + (f" · {', '.join(meta)}" if meta else ""), "", m.content, ""]
    if row.summary:
        out += ["## Summary", "", row.summary, "", f"Next: {row.next_step}"]
    return "\n".join(out)


def show_log(ws: Any, sid: int | None, search: str | None, export: Path | None, list_: bool) -> None:
    from rich.text import Text

    from mentor.render import console, markdown

    db = ws.engine()
    with Session(db) as s:
        if list_:
            rows = s.exec(select(SessionRow).order_by(SessionRow.id)).all()
            for r in rows:
                console.print(Text(f"{r.id:>4}  {r.started_at}  {r.unit_id or '-':<18} {'offline' if r.offline else (r.model or '') + (' (went offline)' if r.went_offline_at else '')}  {r.summary[:60]}"))
            if not rows:
                console.print("no sessions yet: `mentor start`")
            return
        if search:
            hits = s.exec(select(Message).where(col(Message.content).contains(search), Message.role != "system")
                          .order_by(Message.id)).all()
            for m in hits:
                i = m.content.lower().find(search.lower())
                snippet = m.content[max(0, i - 60): i + 60].replace("\n", " ")
                console.print(Text(f"session {m.session_id} · {m.created_at} · {m.role}: …{snippet}…"))
            if not hits:
                console.print(Text(f"nothing found for {search!r}"))
            return
        if sid is None:
            last = s.exec(select(SessionRow).order_by(SessionRow.id.desc())).first()
            if last is None:
                raise MentorError("no sessions yet", "start one with `mentor start`")
            sid = int(last.id or 0)
    md = transcript_markdown(db, sid)
    if export:
        try:
            export.write_text(md, encoding="utf-8")
        except OSError as e:
            raise MentorError(f"cannot write the transcript to {export}: {e.strerror}",
                              "choose a path in a folder that exists and is writable") from None
        console.print(Text(f"wrote {export}"))
    else:
        markdown(md)
