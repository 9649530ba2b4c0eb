"""mobiledense: mobile vision backbones for MMDetection / MMSegmentation.

The distribution is ``mobiledense``; the importable package is ``backbones``.

* ``pip install mobiledense[onnxruntime]`` (or ``[openvino]``, ``[ncnn]``,
  ``[mnn]``, ``[litert]``):
  a device that runs deployed artefacts: numpy, OpenCV and that runtime;
  no torch, no mm*.
* ``pip install mobiledense[train,det,seg]``: the training side, in ranges.
  The exact, tested set lives in ``requirements/``; ``tools/setup_env.sh``
  installs it (mmcv 2.1.0 has no CPU wheel on PyPI and is built from
  source unless a wheel is found).
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
    # The base install is what runs an artefact on a device (numpy and
    # OpenCV; add the runtime's extra). The training side is an extra
    # because a device must not pull torch or mm*, and because mmcv 2.1.0
    # has no CPU wheel: tools/setup_env.sh installs the tested set
    # (requirements/lock.txt), building mmcv when no wheel fits.
    install_requires=['numpy', 'opencv-python'],
    extras_require={
        # ranges for an existing OpenMMLab environment
        'train': ['torch>=2.0', 'mmengine>=0.10.0,<1.0',
                  'mmcv>=2.0.0rc4,<2.2.0'],
        'det': ['mmdet>=3.0.0,<3.4.0', 'pycocotools'],
        'seg': ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
        # one runtime each, for running artefacts (backbones.runtime)
        'onnxruntime': ['onnxruntime'],
        'openvino': ['openvino'],
        'ncnn': ['ncnn'],
        'mnn': ['mnn'],
        'litert': ['ai-edge-litert'],
        # its Python runtime takes torch tensors: this extra has torch
        'executorch': ['executorch'],
        # writing artefacts (tools/deploy.py): converters and quantizers
        'deploy': ['onnx', 'onnxruntime', 'onnxslim', 'openvino', 'nncf',
                   'ncnn', 'pnnx', 'mnn', 'executorch', 'ai-edge-litert'],
        # install with --no-deps: it pins protobuf <= 3.20.2, which today's
        # onnx refuses (docs/deployment.md, "mmdeploy as a client")
        'mmdeploy': ['mmdeploy==1.3.1', 'aenum', 'multiprocess', 'dill'],
        'tests': ['pytest', 'pytest-xdist', 'onnx', 'onnxruntime'],
    },
)
