"""The `mentor` command: assembles the typer app; each command group lives in mentor/commands/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from mentor import __version__
from mentor.commands import (audit_cmd, check_cmd, config_cmd, dev_cmd, doctor_cmd, interview_cmd, lab_cmd, lesson_cmd,
                             project_cmd, session_cmd, status_cmd, sync_cmd, workspace_cmd)
from mentor.commands.common import state
from mentor.errors import MentorError

def _flags_without_a_value_placeholder() -> None:
    """typer's rich help prints `--json <bool>` for on/off flags, which take no value: show them bare."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_mentor_patched", False):
        return

    def display_type_rich(self: TyperOption, ctx: typer.Context) -> str | None:  # type: ignore[name-defined]
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    display_type_rich._mentor_patched = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_a_value_placeholder()

app = typer.Typer(
    name="mentor",
    help="A tutor for building a small LLM from first principles, one verified step at a time.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mentor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="Workspace folder (default: MENTOR_WORKSPACE, else the current folder or a parent)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    state.workspace = workspace


workspace_cmd.register(app)
session_cmd.register(app)
config_cmd.register(app)
status_cmd.register(app)
lesson_cmd.register(app)
check_cmd.register(app)
lab_cmd.register(app)
doctor_cmd.register(app)
sync_cmd.register(app)
audit_cmd.register(app)
interview_cmd.register(app)
project_cmd.register(app)
app.add_typer(dev_cmd.app, name="dev", help="Course authoring: validate the curriculum and self-check units.")


def main() -> None:
    try:
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except MentorError as e:
        from mentor.render import print_error

        print_error(e)
        sys.exit(e.exit_code)
    except OSError as e:  # a file or folder we cannot read or write: the user's to fix, not a traceback
        from mentor.errors import MentorError as _E
        from mentor.render import print_error

        where = f" ({e.filename})" if e.filename else ""
        print_error(_E(f"{e.strerror or e}{where}", "check that the path exists and that you may read and write it"))
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted — nothing was lost: answers and attempts are saved as they happen", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # usage errors from click (typer may vendor its own copy of click)
        if any(cls.__name__ == "ClickException" for cls in type(e).__mro__) and hasattr(e, "show"):
            e.show()
            sys.exit(getattr(e, "exit_code", 2) or 2)
        raise

if __name__ == "__main__":
    main()
