"""The device side installs and runs without torch or any mm* package: a
fresh virtual environment with numpy, OpenCV and onnxruntime only (the
lock's versions), this distribution installed into it as a device would
(``pip install mobiledense[onnxruntime]``), runs the committed artefact of
``tests/fixtures/device_artefact`` and gives the answers recorded when it
was written (``tests/fixtures/make_device_artefact.py``).

The environment is cached outside the clone (``~/.cache/mobiledense``),
keyed by the pinned versions, so later runs only reinstall the package.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

pytestmark = pytest.mark.export

FIXTURES = REPO / 'tests' / 'fixtures'
# what a device needs for an onnxruntime artefact, and onnxruntime's own
# requirements; versions from the lock
DEVICE_PACKAGES = ('numpy', 'opencv-python', 'onnxruntime', 'flatbuffers',
                   'packaging', 'protobuf')

RUN = '''
import importlib.util, sys
import numpy as np
from backbones.runtime import load
for name in ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg'):
    assert importlib.util.find_spec(name) is None, name + ' is installed'
    assert name not in sys.modules, name + ' was imported'
model = load(sys.argv[1])
got = model(sys.argv[2])
want = np.load(sys.argv[3])
assert sorted(got) == sorted(want.files), (sorted(got), want.files)
np.testing.assert_array_equal(got['labels'], want['labels'])
np.testing.assert_allclose(got['scores'], want['scores'], atol=1e-5)
np.testing.assert_allclose(got['bboxes'], want['bboxes'], atol=1e-2)
print('device ok', len(got['scores']), 'boxes')
'''


def pinned(names):
    lock = (REPO / 'requirements' / 'lock.txt').read_text().splitlines()
    pins = {line.split('==')[0].lower(): line for line in lock
            if '==' in line and not line.startswith('#')}
    return [pins[name.lower()] for name in names]


@pytest.fixture(scope='module')
def device_env():
    """A virtual environment with the device packages only."""
    pins = pinned(DEVICE_PACKAGES)
    key = hashlib.sha256(' '.join(pins + [sys.version]).encode()) \
        .hexdigest()[:16]
    home = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache'))
    env = home / 'mobiledense' / f'device-env-{key}'
    python = env / 'bin' / 'python'
    if not (env / '.complete').is_file():
        subprocess.run([getattr(sys, '_base_executable', sys.executable),
                        '-m', 'venv', '--clear', str(env)], check=True)
        subprocess.run([str(python), '-m', 'pip', 'install', '-q',
                        '--disable-pip-version-check', '--no-deps', *pins],
                       check=True)
        (env / '.complete').write_text(' '.join(pins))
    return python


def test_device_runs_an_artefact_without_torch_or_mm(device_env, tmp_path):
    pip = [str(device_env), '-m', 'pip', '--disable-pip-version-check']
    # The distribution's wheel (built here, where the build tools are),
    # installed as a device installs it; no dependency is fetched
    # (--no-deps), and pip check then says whether its requirements (and
    # the runtime's) are met by numpy, OpenCV and onnxruntime alone.
    # built from a copy: an in-tree build would leave build/ in the clone,
    # whose stale files a later wheel could pick up
    source = tmp_path / 'source'
    shutil.copytree(REPO / 'backbones', source / 'backbones',
                    ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('setup.py', 'pyproject.toml', 'README.md', 'LICENSE'):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, '-m', 'pip', '--disable-pip-version-check', 'wheel',
         '-q', '--no-deps', '--no-build-isolation', '-w', str(tmp_path),
         str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel, = tmp_path.glob('mobiledense-*.whl')
    installed = subprocess.run(
        pip + ['install', '-q', '--no-deps', '--target',
               str(tmp_path / 'site'), str(wheel)],
        capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(tmp_path / 'site'))
    checked = subprocess.run(pip + ['check'], capture_output=True, text=True,
                             env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ran = subprocess.run(
        [str(device_env), '-c', RUN, str(FIXTURES / 'device_artefact'),
         str(FIXTURES / 'device_image.png'),
         str(FIXTURES / 'device_expected.npz')],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert 'device ok 200 boxes' in ran.stdout
