"""The graphs an artefact holds: a detector or segmentor from pixels to
what the numpy post-processing of :mod:`backbones.runtime.postprocess`
takes.

Both take ``(1, 3, H, W)`` float32 pixels in the channel order images are
decoded in (BGR), resized and padded by the runtime; the config's
``bgr_to_rgb`` and mean/std are applied first, inside the graph.

* :class:`DetectionGraph` (mmdet single-stage dense heads with priors and a
  box coder: SSD, RetinaNet): every prior's decoded box ``(1, N, 4)``,
  clipped to the input, and class scores ``(1, N, C)`` (softmax without the
  background for SSD, sigmoid for RetinaNet), level after level; with a
  free input size also the priors per level ``(L,)`` int64, which then
  depend on the input.
* :class:`SegmentationGraph` (mmseg encoder-decoders): the decode head's
  logits at the head's own stride, ``(1, C, h, w)``; the runtime resizes
  them to the input size, crops the padding and resizes to the original
  size, plane by plane with OpenCV
  (:func:`backbones.runtime.postprocess.segmentation`). In the graph, the
  150-channel full-resolution resize was what made the runtimes differ:
  at 512x512 it took ncnn 250 ms, OpenVINO 83 and onnxruntime 35 of their
  time (its output alone is 157 MB), OpenCV 12 ms for all planes.

``free_size=False`` fixes the input size at ``size`` (priors are a
constant); ``True`` leaves it free (the priors are computed in the graph,
as mmdet's anchor generators compute them, from the feature map sizes).
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ExportError


class Normalise(nn.Module):
    """``(pixels[:, ::-1] if bgr_to_rgb else pixels) - mean) / std`` as one
    per-channel affine map (a 1x1 conv every runtime has)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 bgr_to_rgb: bool):
        super().__init__()
        order = [2, 1, 0] if bgr_to_rgb else [0, 1, 2]
        weight = torch.zeros(3, 3, 1, 1)
        for out, source in enumerate(order):
            weight[out, source] = 1.0 / std[out]
        self.register_buffer('weight', weight)
        self.register_buffer('bias', -torch.tensor(mean, dtype=torch.float32)
                             / torch.tensor(std, dtype=torch.float32))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.conv2d(pixels, self.weight, self.bias)


def preprocessing(model: nn.Module) -> dict:
    """``mean``, ``std`` (after the channel flip) and ``bgr_to_rgb`` of a
    detector's or segmentor's data preprocessor (mmengine's and mmseg's
    name the flip differently)."""
    pre = model.data_preprocessor
    flip = getattr(pre, '_channel_conversion',
                   getattr(pre, 'channel_conversion', False))
    if pre._enable_normalize:
        mean, std = pre.mean.flatten().tolist(), pre.std.flatten().tolist()
    else:
        mean, std = [0.0] * 3, [1.0] * 3
    return dict(mean=mean, std=std, bgr_to_rgb=bool(flip))


def normaliser(model: nn.Module) -> Normalise:
    return Normalise(**preprocessing(model))


def pad_value(model: nn.Module) -> List[float]:
    """The pixel (in the fed BGR order) that normalises to 0: mm's data
    preprocessors pad normalised images with 0."""
    settings = preprocessing(model)
    mean = settings['mean']
    return mean[::-1] if settings['bgr_to_rgb'] else mean


def size_tensor(size) -> torch.Tensor:
    """A size as a 0-dim tensor: a traced size as it is (``as_tensor``
    would make it a constant of the trace), an int as a new tensor."""
    return size if isinstance(size, torch.Tensor) else torch.tensor(size)


# DeltaXYWHBBoxCoder.decode's default: the largest log-ratio of a box side.
WH_RATIO_CLIP = 16 / 1000


class DetectionGraph(nn.Module):
    """Pixels -> ``(boxes (1, N, 4), scores (1, N, C))`` over every prior."""

    def __init__(self, model: nn.Module, size: Tuple[int, int],
                 free_size: bool = False):
        super().__init__()
        head = getattr(model, 'bbox_head', None)
        from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
        if head is None or not hasattr(head, 'prior_generator') or \
                not isinstance(getattr(head, 'bbox_coder', None),
                               DeltaXYWHBBoxCoder):
            raise ExportError(f'{type(model).__name__}: only single-stage '
                            f'detectors with anchor heads and delta box '
                            f'coders (SSD, RetinaNet) deploy end to end')
        self.model = model
        self.normalise = normaliser(model)
        self.size = tuple(size)
        self.free_size = free_size
        generator = head.prior_generator
        self.base_anchors = [a.clone() for a in generator.base_anchors]
        self.strides = [tuple(s) for s in generator.strides]
        with torch.no_grad():
            cls_scores, _ = model._forward(torch.zeros(1, 3, *size))
        featmap_sizes = [tuple(c.shape[-2:]) for c in cls_scores]
        priors = head.prior_generator.grid_priors(featmap_sizes,
                                                  device='cpu')
        self.priors_per_level = [len(p) for p in priors]
        self.register_buffer('priors', torch.cat(priors)[None])

    def forward(self, pixels: torch.Tensor):
        head = self.model.bbox_head
        cls_scores, bbox_preds = self.model._forward(self.normalise(pixels))
        logits = torch.cat([c.permute(0, 2, 3, 1).reshape(
            1, -1, head.cls_out_channels) for c in cls_scores], 1)
        deltas = torch.cat([b.permute(0, 2, 3, 1).reshape(1, -1, 4)
                            for b in bbox_preds], 1)
        scores = logits.sigmoid() if head.use_sigmoid_cls else \
            logits.softmax(-1)[..., :-1]
        if not self.free_size:
            return self.decode(deltas, self.priors, self.size), scores
        priors = [self.grid_priors(level, c.shape[-2:])
                  for level, c in enumerate(cls_scores)]
        counts = torch.stack([size_tensor(p.shape[0]) for p in priors])
        return self.decode(deltas, torch.cat(priors)[None],
                           pixels.shape[-2:]), scores, counts

    def grid_priors(self, level: int, featmap_size) -> torch.Tensor:
        """``(H * W * A, 4)`` anchors of one level for a (traced) feature
        map size: mmdet's ``single_level_grid_priors`` (base anchors
        shifted to every cell, cell-major, anchors within a cell) without
        its ``len()`` of a traced tensor."""
        height, width = featmap_size
        stride_w, stride_h = self.strides[level]
        xs = torch.arange(width).to(torch.float32) * stride_w
        ys = torch.arange(height).to(torch.float32) * stride_h
        shifts = torch.stack(torch.broadcast_tensors(
            xs[None, :], ys[:, None], xs[None, :], ys[:, None]), -1)
        return (shifts.reshape(-1, 1, 4) +
                self.base_anchors[level][None]).reshape(-1, 4)

    def decode(self, deltas: torch.Tensor, priors: torch.Tensor,
               size) -> torch.Tensor:
        """``(1, N, 4)`` deltas -> boxes, as mmdet's ``delta2bbox`` (means
        and stds, the log-ratio clamp, clipping to the input), written with
        step-1 slices and broadcasts only: no strided slices or 5-D
        tensors, which ncnn lacks."""
        coder = self.model.bbox_head.bbox_coder
        if coder.add_ctr_clamp:
            raise ExportError('box coders with add_ctr_clamp do not deploy')
        means = deltas.new_tensor(coder.means)
        stds = deltas.new_tensor(coder.stds)
        deltas = deltas * stds + means
        centres = (priors[..., :2] + priors[..., 2:]) * 0.5
        sizes = priors[..., 2:] - priors[..., :2]
        max_ratio = abs(math.log(WH_RATIO_CLIP))
        centres = centres + sizes * deltas[..., :2]
        sizes = sizes * deltas[..., 2:].clamp(-max_ratio, max_ratio).exp()
        boxes = torch.cat([centres - sizes * 0.5, centres + sizes * 0.5], -1)
        if coder.clip_border:
            height, width = size
            limits = torch.stack([size_tensor(s) for s in (
                width, height, width, height)]).to(deltas)
            boxes = torch.minimum(boxes.clamp(min=0), limits)
        return boxes


class SegmentationGraph(nn.Module):
    """Pixels ``(1, 3, H, W)`` -> the decode head's logits ``(1, C, h,
    w)``, at any input size (the size and ``free_size`` change nothing
    here: mmseg's resizes happen in the runtime)."""

    def __init__(self, model: nn.Module, size: Tuple[int, int],
                 free_size: bool = False):
        super().__init__()
        if not hasattr(model, 'decode_head'):
            raise ExportError(f'{type(model).__name__}: only encoder-decoder '
                            f'segmentors deploy')
        if model.align_corners:
            raise ExportError('segmentors with align_corners=True do not '
                            'deploy (the runtime resizes with half-pixel '
                            'centres)')
        self.model = model
        self.normalise = normaliser(model)
        self.free_size = free_size

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model._forward(self.normalise(pixels))
