"""Converters that cannot share the project's lock run in environments of
their own, created on first use and cached outside the clone
(``$XDG_CACHE_HOME/mobiledense``, else ``~/.cache/mobiledense``), keyed by
their lock file (``requirements/<name>.txt``) and the interpreter, so a
fresh clone and CI reuse them; a changed lock makes a new one.  The lock
is a complete freeze, installed without dependency resolution (nothing can
pull another torch)."""
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


def converter_python(name: str, create: bool = True) -> Path:
    """The interpreter of the environment of ``requirements/<name>.txt``,
    made first if it is not there (minutes: the packages are downloaded).

    Raises:
        ConverterEnvironmentError: it is not there and ``create`` is false,
            or pip could not install the lock (its last words say why).
    """
    env = environment_dir(name)
    python = env / 'bin' / 'python'
    if (env / COMPLETE).is_file() and python.is_file():
        return python
    if not create:
        raise ConverterEnvironmentError(
            f'the {name} environment is not made yet ({env})')
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
    return python
