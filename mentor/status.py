"""What `mentor status` shows: gathered as plain data (also the --json output), then rendered."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, func, select

from mentor.mastery import current_unit, waits_for_install
from mentor.progress import refresh
from mentor.store.models import Answer, Attempt, Message
from mentor.validation import cpu_only_check

STATE_ICON = {"mastered": "★", "proficient": "✓", "available": "▶", "locked": "·", "coming": "…"}
STATE_STYLE = {"mastered": "bold magenta", "proficient": "green", "available": "bold yellow", "locked": "dim", "coming": "dim italic"}


def _attempt_stats(engine: Any) -> tuple[dict[str, dict[str, Any]], float]:
    stats: dict[str, dict[str, Any]] = {}
    total = 0.0
    with Session(engine) as s:
        rows = s.exec(select(Attempt.unit_id, func.count(), func.sum(Attempt.duration_s), func.max(Attempt.created_at))
                      .group_by(Attempt.unit_id)).all()
        for uid, n, dur, last in rows:
            stats[uid] = {"attempts": int(n), "last_attempt": last}
        for uid, status, host, gpu in s.exec(select(Attempt.unit_id, Attempt.status, Attempt.machine_host,
                                                    Attempt.machine_gpu).order_by(Attempt.id)).all():
            st = stats.setdefault(uid, {})
            st["last_status"], st["last_machine"] = status, (f"{host} ({gpu})" if gpu else host) if host else None
            if status == "pass" and host:
                st.setdefault("passed_on", [])
                label = f"{host} ({gpu})" if gpu else f"{host} (no GPU)"
                if label not in st["passed_on"]:
                    st["passed_on"].append(label)
        answered = s.exec(select(Answer.created_at).order_by(Answer.created_at)).all()
        attempts = s.exec(select(Attempt.created_at).order_by(Attempt.created_at)).all()
    stamps = sorted(list(answered) + list(attempts))
    total = _active_minutes(stamps)
    return stats, total


def _active_minutes(stamps: list[str], gap_min: float = 20.0) -> float:
    """Minutes of activity: sum of gaps between consecutive events shorter than gap_min (+2 min per burst)."""
    from datetime import datetime

    times = [datetime.fromisoformat(t) for t in stamps]
    total = 0.0
    for a, b in zip(times, times[1:]):
        gap = (b - a).total_seconds() / 60
        total += gap if gap < gap_min else 2.0
    return round(total + (2.0 if times else 0.0), 1)


def _week_usage(engine: Any) -> dict[str, Any]:
    from datetime import timedelta

    from mentor.store.db import now

    since = (now() - timedelta(days=7)).isoformat(timespec="seconds")
    with Session(engine) as s:
        row = s.exec(select(func.count(), func.sum(Message.prompt_tokens), func.sum(Message.cached_tokens),
                            func.sum(Message.completion_tokens), func.sum(Message.cost_usd),
                            func.count(Message.prompt_tokens), func.count(Message.cost_usd))
                     .where(Message.role == "assistant", Message.status != "failed", Message.created_at >= since)).one()
    n, prompt, cached, completion, cost, with_usage, with_cost = row
    n = int(n or 0)

    def known(total: Any, count: int, cast: type = int) -> Any:  # None ("unknown") when some replies had no usage
        return cast(total or 0) if count == n else None

    return {"replies": n, "prompt_tokens": known(prompt, with_usage), "cached_tokens": known(cached, with_usage),
            "completion_tokens": known(completion, with_usage), "replies_without_usage": n - int(with_usage or 0),
            "cost_usd": round(float(cost), 4) if cost is not None and with_cost == n else None}


def _hosts(engine: Any) -> int:
    """How many machines this workspace's checks ran on (the course uses two: the GPU workstation, the laptop)."""
    with Session(engine) as s:
        return int(s.exec(select(func.count(func.distinct(Attempt.machine_host)))).one() or 0)


def _machines(engine: Any) -> list[dict[str, Any]]:
    """Every machine measured in this workspace (`mentor doctor --measure`), newest figures each."""
    from mentor.labs.profile import latest_profiles, summary_line

    return [{"hostname": p.get("hostname"), "cpu_model": p.get("cpu_model"), "gpu_name": p.get("gpu_name"),
             "measured_at": p.get("measured_at"), "summary": summary_line(p)} for p in latest_profiles(engine).values()]


def gather(ws: Any, course: Any) -> dict[str, Any]:
    engine = ws.engine()
    snap = refresh(engine, course)
    stats, minutes = _attempt_stats(engine)
    cur = current_unit(course, snap.states)
    phases = []
    for p in course.spec.phases:
        units = []
        for uid in p.units:
            st = snap.states[uid]
            u = course.units.get(uid)
            units.append({"id": uid, "title": u.title if u else None, "state": st.state, "missing": st.missing,
                          "attempts": stats.get(uid, {}).get("attempts", 0),
                          "last_status": stats.get(uid, {}).get("last_status"),
                          "last_machine": stats.get(uid, {}).get("last_machine"),
                          "passed_on": stats.get(uid, {}).get("passed_on", []),
                          "cpu_only_check": cpu_only_check(engine, course, uid),
                          "questions_correct": len(snap.evidence.get(uid).correct & {q.id for q in u.questions}) if u and uid in snap.evidence else 0,
                          "questions_total": len(u.questions) if u else 0,
                          "optional": bool(u and u.optional),
                          "waits_for_install": u.gate.missing_needs() if u and waits_for_install(u) else []})
        done = sum(x["state"] in ("proficient", "mastered") for x in units)
        phases.append({"id": p.id, "title": p.title, "focus": p.focus, "sessions": p.sessions,
                       "proficient": done, "total": len(units), "units": units})
    reviews = _reviews(course, snap, engine)
    done = all(u["state"] in ("proficient", "mastered") or u["optional"] for p in phases for u in p["units"])
    return {"workspace": str(ws.root), "learner": ws.learner_name, "current": cur,
            "next_step": _next_step(cur, snap, course, reviews), "reviews": reviews,
            "course_complete": done and any(r["id"] == "final" and r["passed"] for r in reviews), "active_minutes": minutes, "llm_week": _week_usage(engine),
            "machines": _machines(engine), "hosts": _hosts(engine),
            "phases": phases, "revealed": _revealed(engine, snap), "project": _project(ws)}


def _project(ws: Any) -> str | None:
    """The course project's headline figures (state.json only: no torch), None without a project."""
    from mentor.project.view import headline

    return headline(ws.root)


def _reviews(course: Any, snap: Any, engine: Any) -> list[dict[str, Any]]:
    """The architecture reviews (mentor interview): open, passed, or what each waits for."""
    from mentor.interview.bank import load_bank
    from mentor.interview.flow import blocking_units, passed_reviews

    passed = passed_reviews(engine)
    return [{"id": r.id, "title": r.title, "blocked_by": blocking_units(course, snap.states, r), "passed": passed.get(r.id)}
            for r in load_bank().reviews]


def _revealed(engine: Any, snap: Any) -> list[dict[str, Any]]:
    """Answers shown to the learner (tries used up, /reveal, a wrong review) and not yet answered right since."""
    from mentor.progress import back_at
    from mentor.store.db import now_iso

    out = []
    for uid, ev in snap.evidence.items():
        for qid, at in sorted(ev.revealed.items(), key=lambda kv: kv[1]):
            back = back_at(engine, uid, qid, at)
            due = back <= now_iso()
            out.append({"unit": uid, "question": qid, "revealed_at": at, "back_at": back, "due": due,
                        "needed": ("answer it right first time in its review, due now" if due else
                                   f"answer it right first time in its review on {back[:10]}")})
    return out


def _next_step(cur: str | None, snap: Any, course: Any, reviews: list[dict[str, Any]] | None = None) -> str:
    if cur is None:
        coming = [u for u in course.order if snap.states[u].state == "coming"]
        if coming:
            return f"Every written unit is proficient. Coming next: {coming[0]}."
        final = next((r for r in reviews or [] if r["id"] == "final"), None)
        if final is not None and not final["passed"]:
            return ("Every unit is proficient. The course completes with the final architecture review: "
                    "`mentor interview final`.")
        return "Course complete."
    open_reviews = [r["id"] for r in reviews or [] if not r["blocked_by"] and not r["passed"] and r["id"] != "final"]
    if open_reviews and not (snap.evidence.get(cur) and snap.evidence[cur].attempts):
        return f"The {open_reviews[0]} review is open: `mentor interview {open_reviews[0]}`; then {cur}."
    missing = snap.states[cur].missing
    if not snap.evidence.get(cur) or not snap.evidence[cur].attempts:
        return f"Read the lesson (`mentor show {cur}`), implement myllm/{course.units[cur].exercise.module}.py, then `mentor check {cur}`."
    return f"{cur}: " + "; ".join(missing)


def _cpu_only_note(u: dict[str, Any]) -> Any:
    """Phase 5's two-machine rule on the unit's line: where it passed, or the check still asked for."""
    from rich.text import Text

    c = u.get("cpu_only_check")
    if not c or not (c["done"] or c["gpu_hosts"]):
        return Text("")
    if c["done"]:
        return Text(f"  CPU-only check ✓ on {', '.join(c['cpu_hosts'])}", style="dim green")
    return Text(f"  passed on {', '.join(c['gpu_hosts'])} only: check it on the CPU-only laptop too "
                f"(mentor check {u['id']} there)", style="yellow")


def _render_reviews(r: dict[str, Any]) -> None:
    from rich.text import Text

    from mentor.render import console

    parts = []
    for rv in r.get("reviews", []):
        if rv["passed"]:
            parts.append(f"{rv['id']} ✓" + ("" if rv["passed"]["grader"] == "llm" else " (self-assessed)"))
        elif not rv["blocked_by"]:
            parts.append(f"{rv['id']} open")
    if parts:
        console.print(Text("\nArchitecture reviews: " + ", ".join(parts), style="bold"))
    if r.get("course_complete"):
        console.print(Text("Course complete: every unit proficient and the final review passed.", style="bold green"))


def render_status(r: dict[str, Any]) -> None:
    from rich.text import Text

    from mentor.render import console

    console.print(Text(f"mentor · {r['learner']} · {r['workspace']}", style="bold"))
    for p in r["phases"]:
        bar_w = 20
        filled = round(bar_w * p["proficient"] / max(p["total"], 1))
        live = sum(u["state"] != "coming" for u in p["units"])
        console.print(Text(f"\nPhase {p['id']}: {p['title']}  ", style="bold") +
                      Text("█" * filled + "░" * (bar_w - filled), style="green") +
                      Text(f" {p['proficient']}/{p['total']}" + ("" if live == p["total"] else f"  ({p['total'] - live} coming)"), style="dim"))
        for u in p["units"]:
            line = Text(f"  {STATE_ICON[u['state']]} ", style=STATE_STYLE[u["state"]])
            line += Text(f"{u['id']:<18}", style=STATE_STYLE[u["state"]])
            line += Text(f"{u['state']:<11}", style=STATE_STYLE[u["state"]])
            if u["state"] != "coming":
                extra = f"{u['attempts']} attempt{'s' if u['attempts'] != 1 else ''}"
                if u["last_status"]:
                    extra += f", last {u['last_status']}"
                    if r.get("hosts", 1) > 1 and u.get("last_machine"):
                        extra += f" on {u['last_machine']}"
                extra += f", questions {u['questions_correct']}/{u['questions_total']}"
                line += Text(extra, style="dim")
                if r["current"] == u["id"]:
                    line += Text("  ← current", style="bold yellow")
                if u["waits_for_install"]:
                    line += Text("  optional, skipped: " + "; ".join(u["waits_for_install"]), style="dim")
                elif u["optional"]:
                    line += Text("  optional", style="dim")
                line += _cpu_only_note(u)
            console.print(line)
    rv = r.get("revealed") or []
    if rv:
        head = f"\n{len(rv)} answer{'s' if len(rv) != 1 else ''} revealed (they do not count): "
        console.print(Text(head, style="bold yellow") + Text("; ".join(
            f"{x['unit']}/{x['question']} " + ("is due for review now" if x["due"] else f"comes back in a review on {x['back_at'][:10]}")
            for x in rv) + ". Answer each right first time then."))
    _render_reviews(r)
    console.print(Text(f"\nActive time: {r['active_minutes']:.0f} min", style="dim"))
    w = r["llm_week"]
    if w["replies"]:
        def n(v: Any) -> str:
            return "unknown" if v is None else str(v)

        cost = "cost unknown" if w["cost_usd"] is None else f"~${w['cost_usd']:.3f}"
        note = f" (usage unknown for {w['replies_without_usage']}: the server did not report it)" if w["replies_without_usage"] else ""
        console.print(Text(f"Mentor this week: {w['replies']} replies, {n(w['prompt_tokens'])} prompt tokens "
                           f"({n(w['cached_tokens'])} cached), {n(w['completion_tokens'])} completion tokens, {cost}{note}", style="dim"))
    for mach in r.get("machines", []):
        console.print(Text(f"Machine {mach['hostname']} ({(mach['measured_at'] or '')[:10]}): {mach['summary']}", style="dim"))
    if not r.get("machines"):
        console.print(Text("Machine: not measured yet (`mentor doctor --measure`)", style="dim"))
    if r.get("project"):
        console.print(Text(r["project"], style="dim"))
    console.print(Text("Next: ", style="bold") + Text(r["next_step"]))
