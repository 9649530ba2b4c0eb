"""Running a deployed artefact: numpy, OpenCV and one runtime, no torch,
mmcv or mm*.

    from backbones.runtime import load
    model = load('deploy/ssdlite_emo_2m_ort')
    out = model('demo.jpg')   # or an (H, W, 3) uint8 BGR array
    # detection: dict(bboxes=(K, 4) xyxy pixels, scores=(K,), labels=(K,))
    # segmentation: dict(sem_seg=(H, W) class indices)
"""
from typing import Dict, Union

import numpy as np

from . import postprocess
from ..errors import ArtefactError, ImageError
from .manifest import read_manifest
from .preprocess import decode, graph_inputs, prepare
from .sessions import open_session

__all__ = ['ArtefactError', 'DeployedModel', 'ImageError', 'load']


class DeployedModel:
    """An artefact folder ready to run; call it on an image."""

    def __init__(self, folder: str, threads: int = 0,
                 manifest: dict = None, profile: bool = False):
        """``manifest`` replaces the folder's (while an artefact is being
        written); by default the folder's is read and checked.
        ``profile``: the runtime's profiler counts, ``session.op_times()``
        reads (:mod:`backbones.runtime.sessions`)."""
        self.folder = folder
        self.manifest = manifest or read_manifest(folder)
        self.task = self.manifest['task']
        self.classes = tuple(self.manifest['classes'])
        self.session = open_session(self.manifest['backend'], folder,
                                    self.manifest, threads, profile)

    def run_graph(self, inputs):
        """The graph alone on prepared inputs: a ``(1, 3, H, W)`` array,
        or all of them by name (:func:`preprocess.graph_inputs`)."""
        if isinstance(inputs, np.ndarray):
            inputs = {self.manifest['input']['name']: inputs}
        return self.session.run(inputs)

    def __call__(self,
                 image: Union[str, np.ndarray]) -> Dict[str, np.ndarray]:
        pixels, meta = prepare(decode(image), self.manifest)
        outputs = self.session.run(graph_inputs(pixels, self.manifest))
        if self.task == 'detection':
            post = self.manifest['postprocess']
            if len(outputs) == 3:  # a free input size: priors per image
                post = dict(post, priors_per_level=[
                    int(n) for n in outputs[2].reshape(-1)])
            return postprocess.detections(outputs[0][0], outputs[1][0], meta,
                                          post)
        return postprocess.segmentation(outputs[0][0], meta,
                                        pixels.shape[-2:])


def load(folder: str, threads: int = 0) -> DeployedModel:
    """The artefact in ``folder`` (written by ``tools/deploy.py``);
    ``threads`` 0 uses every core (the runtime's own default, or
    ``os.cpu_count()`` where that default is one thread: MNN, LiteRT).

    Raises:
        ArtefactError: a missing, incomplete or foreign folder, or a
            runtime that is not installed.
    """
    return DeployedModel(folder, threads)
