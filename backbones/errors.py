"""The errors of mobiledense: each says what is wrong with what the user
gave (a config key, a file, an option, an input) in one line.

Every room of the package raises these; the command lines
(:mod:`backbones.cli`) print them as ``error: ...`` with exit status 2,
and anything else stays a traceback (a bug of ours or of a library).
Plain Python, no torch: the runtime on a device raises them too.

Where a class also derives from a built-in exception, that is what callers
outside the project would catch for it (a bad value is a ``ValueError``,
a checkpoint whose keys do not fit a ``KeyError``).
"""
import contextlib
import os
import pickle
from typing import Iterator


class MobiledenseError(Exception):
    """A problem with the user's input, described in one line."""

    def __str__(self):  # KeyError subclasses would repr() the message
        return str(self.args[0]) if self.args else type(self).__name__


class UsageError(MobiledenseError):
    """A command-line option that cannot work (the tools' own checks)."""


class ConfigError(MobiledenseError, ValueError):
    """A config file, key or value that cannot work, named."""


class DataError(MobiledenseError):
    """The data a config points at: a path, an annotation file, an image."""


class InputError(MobiledenseError, ValueError):
    """An input a backbone cannot process (shape, channels, dtype, values),
    or arguments it cannot be built with."""


class CheckpointError(MobiledenseError):
    """A checkpoint file that cannot be used: missing, empty, damaged."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path with no file."""


class NotACheckpointError(CheckpointError, ValueError):
    """A file that is not a PyTorch checkpoint, or one without weights."""


class NonFiniteWeightsError(CheckpointError, ValueError):
    """Weights holding NaN or Inf (a training that diverged)."""


class CheckpointLayoutError(CheckpointError, KeyError):
    """Weights whose keys or shapes fit no layout the model accepts."""


class UntrustedCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint that would run code outside the allow-list to load."""


class MXNetParamsError(CheckpointError, ValueError):
    """A malformed MXNet ``.params`` file."""


class ExportError(MobiledenseError):
    """A model a backend cannot express, or an export whose outputs differ
    from PyTorch's beyond the tolerance."""


class ConverterEnvironmentError(ExportError):
    """A converter's own environment (one that cannot share the lock) that
    could not be made."""


class ArtefactError(MobiledenseError, ValueError):
    """An artefact folder that is missing, incomplete, foreign, or whose
    runtime is not installed."""


class ImageError(MobiledenseError, ValueError):
    """An image the runtime cannot decode or take."""


class NonFiniteTrainingError(MobiledenseError, RuntimeError):
    """A training whose loss became NaN or infinite."""


class LibraryError(MobiledenseError):
    """A library underneath (mmengine, mmdet, mmseg, mmcv, torch, numpy)
    refused what a config or an option describes, while a tool built or ran
    it: its message, on one line, with what was being done."""


# set to 1: the tools print the traceback behind a LibraryError too
DEBUG_ENV = 'MOBILEDENSE_DEBUG'


@contextlib.contextmanager
def from_library(doing: str) -> Iterator[None]:
    """Within the block, an exception of a library underneath becomes a
    :class:`LibraryError` saying what was being ``doing`` (a config file,
    key or option); the project's own errors, interrupts, memory
    exhaustion and ``OSError`` (a path, which the tools name themselves)
    pass through.  The original stays chained (``__cause__``):
    ``MOBILEDENSE_DEBUG=1`` prints it, so real bugs stay visible."""
    try:
        yield
    except MobiledenseError:
        raise
    except Exception as err:  # noqa: B902 (any library error, named)
        if isinstance(err, (MemoryError, OSError)):
            raise
        raise LibraryError(f'{doing}: {one_line(err)} (set {DEBUG_ENV}=1 '
                           f'for the traceback)') from err


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, '') not in ('', '0')


def one_line(err: BaseException) -> str:
    """``Type: message`` of an exception from a library, on one line."""
    text = ' '.join(str(err).split()) or '(no message)'
    return f'{type(err).__name__}: {text}'
