"""`mentor show` through the real entry point: the HTML page, the Markdown file, paging, unbalanced math."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_mentor
from mentor.paths import curriculum_dir

NO_BROWSER = {"MENTOR_NO_BROWSER": "1"}


def _page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img|iframe)\b", page), "the page loads nothing"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no network resource"
    assert "@import" not in page and "url(" not in page


def test_show_html_outside_a_workspace_writes_a_page_with_mathml_code_and_status(tmp_path: Path):
    r = run_mentor("show", "adamw", "--html", cwd=tmp_path, env={**NO_BROWSER, "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path == tmp_path / "mentor-lessons" / "adamw.html" and path.is_file()
    page = path.read_text(encoding="utf-8")
    _page_is_self_contained(page)
    assert page.count("<math") > 20 and '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in page
    assert "<mfrac>" in page and "<msup>" in page  # \frac and superscripts are typeset, not text
    assert 'class="status browsing"' in page and "outside a workspace" in page
    assert '<code class="language-python">' in page and '<span class="' in page  # pygments colours code
    assert "$" not in re.sub(r"<(pre|code)[^>]*>.*?</\1>", "", page, flags=re.S)  # no raw LaTeX left in prose
    assert "no graphical browser" in r.stderr


def test_show_html_in_a_workspace_says_available_or_locked(workspace: Path):
    r = run_mentor("show", "neuron", "--html", "--no-open", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == workspace / "lessons" / "neuron.html"
    assert 'class="status available"' in (workspace / "lessons" / "neuron.html").read_text(encoding="utf-8")
    r = run_mentor("show", "attention", "--html", "--no-open", cwd=workspace)
    assert r.returncode == 0, r.stderr
    page = (workspace / "lessons" / "attention.html").read_text(encoding="utf-8")
    assert 'class="status locked"' in page and "to unlock it" in page


def test_the_lesson_markdown_file_is_written_and_an_edited_one_is_never_overwritten(workspace: Path):
    md = workspace / "lessons" / "neuron.md"
    r = run_mentor("show", "neuron", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert "lessons/neuron.md" in r.stderr
    text = md.read_text(encoding="utf-8")
    assert "# One neuron" in text and "$" in text  # the LaTeX stays, for editors with math preview
    assert run_mentor("show", "neuron", cwd=workspace).stderr.strip() == ""  # unchanged: nothing to say
    md.write_text(text + "\nMy own notes.\n", encoding="utf-8")
    r = run_mentor("show", "neuron", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert md.read_text(encoding="utf-8").endswith("My own notes.\n")
    assert (workspace / "lessons" / "neuron.new.md").read_text(encoding="utf-8") == text
    assert "you have edited lessons/neuron.md" in r.stderr and "neuron.new.md" in r.stderr
    md.unlink()  # removed: written again
    assert run_mentor("show", "neuron", cwd=workspace).returncode == 0
    assert md.read_text(encoding="utf-8") == text


def test_show_renders_math_as_unicode_and_does_not_page_without_a_terminal(tmp_path: Path):
    marker = tmp_path / "pager-ran"
    r = run_mentor("show", "gradient-descent", cwd=tmp_path, env={"PAGER": f"touch {marker}; cat"})
    assert r.returncode == 0, r.stderr
    assert not marker.exists(), "output to a pipe must not go through the pager"
    assert "ϵ ∼ u^(1/2) ≈ 10⁻⁸ for forward" in " ".join(r.stdout.split())  # the pair fixed in step 2
    assert "Further reading" in r.stdout  # the whole lesson
    assert "\\frac" not in r.stdout and "$" not in r.stdout.replace("`", "")


def test_show_pages_a_long_lesson_on_a_terminal(tmp_path: Path):
    pexpect = pytest.importorskip("pexpect")
    marker = tmp_path / "pager-ran"
    env = {k: v for k, v in os.environ.items() if k != "MENTOR_WORKSPACE"}
    env.update(PAGER=f"touch {marker}; cat", COLUMNS="100", LINES="30", TERM="xterm")
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "show", "attention"], cwd=str(tmp_path), env=env,
                          encoding="utf-8", timeout=120, dimensions=(30, 100))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert marker.exists(), "a lesson taller than the terminal goes through $PAGER"
    marker.unlink()
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "show", "attention", "--no-pager"], cwd=str(tmp_path),
                          env=env, encoding="utf-8", timeout=120, dimensions=(30, 100))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and not marker.exists()


def test_dev_check_rejects_unbalanced_math_with_file_line_unit_and_field(tmp_path: Path):
    root = tmp_path / "curriculum"
    shutil.copytree(curriculum_dir(), root)
    path = next(root.glob("p2/*-attention/unit.yaml"))
    lines = path.read_text(encoding="utf-8").splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("      ") and "$$" not in ln and ln.count("$") == 2)
    lines[k] = lines[k] + " and a stray $ dollar"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_mentor("dev", "check", "--validate-only", "--curriculum", str(root), cwd=tmp_path)
    assert r.returncode != 0
    err = " ".join(r.stderr.split())  # rich wraps long lines
    assert f"{path}:{k + 1}:" in re.sub(r"\s+", "", r.stderr), r.stderr
    assert "unit 'attention'" in err and "field 'steps." in err, err
    assert "never closed" in err or "spans a line break" in err, err
    assert "Traceback" not in r.stderr
    ok = run_mentor("dev", "check", "--validate-only", "--curriculum", str(curriculum_dir()), cwd=tmp_path)
    assert ok.returncode == 0 and "curriculum valid" in ok.stdout


def test_units_that_unlock_get_their_markdown_lesson(workspace: Path):
    from mentor.curriculum import course
    from mentor.lesson_files import write_unlocked
    from mentor.workspace import find_workspace

    ws = find_workspace(workspace)
    (written,) = write_unlocked(ws, course(), ["losses"])
    assert written.path == workspace / "lessons" / "losses.md" and not written.note
    assert "# " + course().unit("losses").title in written.path.read_text(encoding="utf-8")
