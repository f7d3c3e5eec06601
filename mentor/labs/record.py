"""Storing lab runs (table lab_run) and the prediction as an answer of the unit (table answer)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from mentor.store.models import LabRun


def earlier_runs(engine: "Engine", unit_id: str, machine_key: str) -> int:
    """Measured lab runs of this unit on this machine already recorded."""
    from mentor.store.models import LabRun

    with Session(engine) as s:
        rows = s.exec(select(LabRun).where(LabRun.unit_id == unit_id, LabRun.machine_key == machine_key,
                                           LabRun.status == "measured")).all()
        return len(rows)


def save_run(engine: "Engine", **values: Any) -> int:
    from mentor.store.db import now_iso
    from mentor.store.models import LabRun

    figures = values.pop("figures", {})
    row = LabRun(created_at=now_iso(), figures_json=json.dumps(figures, default=str), **values)
    with Session(engine) as s:
        s.add(row)
        s.commit()
        return int(row.id or 0)


def runs(engine: "Engine", unit_id: str | None = None) -> list["LabRun"]:
    from mentor.store.models import LabRun

    with Session(engine) as s:
        q = select(LabRun).order_by(LabRun.id)  # type: ignore[arg-type]
        if unit_id:
            q = q.where(LabRun.unit_id == unit_id)
        return list(s.exec(q).all())
