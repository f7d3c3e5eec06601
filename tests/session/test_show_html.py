"""`/show --html` in a session writes the lesson page (and opens it only where a graphical browser exists)."""

from __future__ import annotations

from pathlib import Path


def test_show_html_in_a_session_writes_the_page(workspace: Path, monkeypatch):
    from mentor.curriculum import course
    from mentor.session.engine import SessionEngine
    from mentor.session.prompting import default_persona
    from mentor.workspace import find_workspace

    monkeypatch.setenv("MENTOR_NO_BROWSER", "1")
    events: list = []
    e = SessionEngine(find_workspace(workspace), course(), minutes=60, client=None, persona=default_persona(),
                      emit=lambda k, t, d: events.append((k, t, d)))
    e.start()
    e.handle("/show --html")
    page = workspace / "lessons" / "neuron.html"
    assert any(k == "info" and str(page) in t and "open it in a browser" in t for k, t, _ in events), events[-3:]
    text = page.read_text(encoding="utf-8")
    assert "<math" in text and 'class="status available"' in text
    e.handle("/quit")
