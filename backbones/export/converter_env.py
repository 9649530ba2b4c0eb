"""Converters that cannot share the project's lock run in environments of
their own, created on first use and cached outside the clone
(``$XDG_CACHE_HOME/mobiledense``, else ``~/.cache/mobiledense``), keyed by
their lock file (``requirements/<name>.txt``) and the interpreter, so a
fresh clone and CI reuse them; a changed lock makes a new one.  The lock
is a complete freeze, installed without dependency resolution (nothing can
pull another torch)."""
import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from ..errors import ConverterEnvironmentError

REQUIREMENTS = Path(__file__).resolve().parents[2] / 'requirements'
COMPLETE = '.complete'


def cache_root() -> Path:
    home = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(home) / 'mobiledense'


def environment_dir(name: str) -> Path:
    """Where the environment of ``requirements/<name>.txt`` lives.

    Raises:
        ConverterEnvironmentError: no such lock file (an installed copy of
            the package without the repository's ``requirements/``).
    """
    lock = REQUIREMENTS / f'{name}.txt'
    if not lock.is_file():
        raise ConverterEnvironmentError(
            f'{lock} is missing: the {name} environment is made from the '
            f'repository checkout')
    key = hashlib.sha256(lock.read_bytes() + sys.version.encode()) \
        .hexdigest()[:16]
    return cache_root() / f'{name}-{key}'


def is_made(env: Path) -> bool:
    return (env / COMPLETE).is_file() and (env / 'bin' / 'python').is_file()


def converter_python(name: str, create: bool = True) -> Path:
    """The interpreter of the environment of ``requirements/<name>.txt``,
    made first if it is not there (minutes: the packages are downloaded).

    Raises:
        ConverterEnvironmentError: it is not there and ``create`` is false,
            or pip could not install the lock (its last words say why).
    """
    env = environment_dir(name)
    python = env / 'bin' / 'python'
    if is_made(env):
        return python
    if not create:
        raise ConverterEnvironmentError(
            f'the {name} environment is not made yet ({env})')
    env.parent.mkdir(parents=True, exist_ok=True)
    # another deploy may be making it now: one at a time (a lock on the
    # cache folder), and the second finds it made
    cache = os.open(env.parent, os.O_RDONLY)
    try:
        fcntl.flock(cache, fcntl.LOCK_EX)
        if not is_made(env):
            make_environment(name, env)
    finally:
        os.close(cache)  # releases the lock
    return python


def make_environment(name: str, env: Path) -> None:
    """A venv in ``env`` with ``requirements/<name>.txt`` installed, marked
    complete.

    Raises:
        ConverterEnvironmentError: pip could not install the lock.
    """
    python = env / 'bin' / 'python'
    print(f'[mobiledense] creating the {name} environment in {env} '
          f'(once; requirements/{name}.txt)', file=sys.stderr, flush=True)
    steps = (
        [getattr(sys, '_base_executable', sys.executable), '-m', 'venv',
         '--clear', str(env)],
        [str(python), '-m', 'pip', 'install', '-q',
         '--disable-pip-version-check', '--no-deps', '-r',
         str(REQUIREMENTS / f'{name}.txt')])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = ' '.join((done.stderr or done.stdout).split()[-40:])
            raise ConverterEnvironmentError(
                f'could not make the {name} environment in {env}: {tail}')
    (env / COMPLETE).write_text('complete\n')
