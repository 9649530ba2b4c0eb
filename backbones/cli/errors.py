"""Errors and exit codes of the tools: a user error is one line on stderr
and exit status 2, never a traceback."""
import sys
from typing import Optional, Sequence


class ToolError(Exception):
    """A user-facing error: :func:`run_tool` prints it without a traceback
    and exits with status 2."""


def user_errors() -> tuple:
    """Exceptions that describe a problem with the user's input (a file, a
    config, an argument) well enough to be printed instead of a traceback,
    wherever they are raised (also deep inside an MMEngine runner)."""
    from ..checkpoint import (CheckpointLayoutError, MXNetParamsError,
                              UntrustedCheckpointError)
    from ..data.checks import DataError
    from ..engine import NonFiniteTrainingError
    from ..models import InputError
    from ..runtime import ArtefactError, ImageError
    return (ToolError, CheckpointLayoutError, UntrustedCheckpointError,
            MXNetParamsError, DataError, InputError, ArtefactError,
            ImageError, NonFiniteTrainingError)


def run_tool(main, argv: Optional[Sequence[str]] = None):
    """Run a tool's ``main``; a user error ends it with its message and exit
    status 2, without a traceback."""
    try:
        return main(argv)
    except user_errors() as err:
        print(f'error: {err}', file=sys.stderr)
        raise SystemExit(2)
    except OSError as err:
        # A path that cannot be read or written (missing folder, no
        # permission, a file where a folder should be): the user's to fix.
        # Errors that name no file stay tracebacks: they are ours.
        if err.filename is None:
            raise
        print(f'error: {err.filename}: {err.strerror or err}',
              file=sys.stderr)
        raise SystemExit(2)
