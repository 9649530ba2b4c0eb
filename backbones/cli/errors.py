"""The tools' one-line errors: every :class:`~backbones.errors.
MobiledenseError` (what the package raises about the user's input) and a
path that cannot be read or written end a tool with ``error: ...`` on
stderr and exit status 2, never a traceback."""
import sys
import traceback
from typing import Optional, Sequence

from ..errors import LibraryError, MobiledenseError, UsageError, debugging

# A tool's own option checks raise this name.
ToolError = UsageError


def run_tool(main, argv: Optional[Sequence[str]] = None):
    """Run a tool's ``main``; a user error ends it with its message and exit
    status 2, without a traceback."""
    try:
        return main(argv)
    except MobiledenseError as err:
        if isinstance(err, LibraryError) and debugging():
            traceback.print_exception(err.__cause__, file=sys.stderr)
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
