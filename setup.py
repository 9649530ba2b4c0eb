"""mobiledense: mobile vision backbones for MMDetection / MMSegmentation.

The distribution is ``mobiledense``; the importable package is ``backbones``.
The exact, tested dependency set lives in ``requirements/``; the set-up
script ``tools/setup_env.sh`` installs it (mmcv 2.1.0 has no CPU wheel on
PyPI and is built from source unless a wheel is found).
"""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def version() -> str:
    for line in (ROOT / 'backbones' / '__init__.py').read_text().splitlines():
        if line.startswith('__version__'):
            return line.split('=')[1].strip().strip("'\"")
    raise RuntimeError('no __version__ in backbones/__init__.py')


setup(
    name='mobiledense',
    version=version(),
    description='EMO, EdgeNeXt, LeViT and AsymmNet as MMEngine backbones '
    'for detection and segmentation',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['backbones', 'backbones.*']),
    # Ranges a user may install into an existing OpenMMLab environment;
    # requirements/lock.txt pins the exact set that is tested.
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0,<1.0',
        'mmcv>=2.0.0rc4,<2.2.0',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0,<3.4.0', 'pycocotools'],
        'seg': ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
        # edge runtimes and their converters (tools/deploy.py); running an
        # artefact needs numpy, opencv-python and its one runtime only
        'deploy': ['onnx', 'onnxruntime', 'onnxslim', 'openvino', 'nncf',
                   'ncnn', 'pnnx'],
        # install with --no-deps: it pins protobuf <= 3.20.2, which today's
        # onnx refuses (README, "mmdeploy as a client")
        'mmdeploy': ['mmdeploy==1.3.1', 'aenum', 'multiprocess', 'dill'],
        'tests': ['pytest', 'onnx', 'onnxruntime'],
    },
)
