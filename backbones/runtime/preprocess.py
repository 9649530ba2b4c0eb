"""Images to the artefact's input, as the config's test pipeline and data
preprocessor make them (mmcv's ``imfrombytes``/``imresize``/``imrescale``
are OpenCV calls: the same ones give the same pixels)."""
from typing import Tuple, Union

import cv2
import numpy as np

from ..errors import ArtefactError, ImageError


def decode(image: Union[str, np.ndarray]) -> np.ndarray:
    """A path or an ``(H, W, 3)`` uint8 array -> ``(H, W, 3)`` uint8 BGR.

    Arrays are taken as they are (BGR, as OpenCV and mmcv load images)."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ImageError(f'an image array must be (H, W, 3) uint8, got '
                             f'{image.dtype} {image.shape}')
        if min(image.shape[:2]) == 0:
            raise ImageError(f'the image array is empty: {image.shape}')
        return image
    try:
        data = np.fromfile(str(image), dtype=np.uint8)
    except OSError as err:
        raise ImageError(f'cannot read image {image}: {err.strerror}') \
            from err
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if decoded is None:
        raise ImageError(f'cannot decode image {image}: not an image file '
                         f'OpenCV can read')
    return decoded


def resized_size(height: int, width: int, preprocess: dict) -> Tuple[int, int]:
    """``(h, w)`` after the test pipeline's ``Resize``: to ``scale``
    exactly, or (``keep_ratio``) scaled to fit ``scale`` (mmcv's
    ``rescale_size``: the long side within the long scale, the short side
    within the short one)."""
    scale_w, scale_h = preprocess['scale']
    if not preprocess['keep_ratio']:
        return scale_h, scale_w
    long_edge, short_edge = max(scale_w, scale_h), min(scale_w, scale_h)
    factor = min(long_edge / max(height, width),
                 short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def input_size(new_h: int, new_w: int, manifest: dict) -> Tuple[int, int]:
    """The graph input for an image resized to ``new_h x new_w``: the
    static size, or (free size) the next multiple of the size divisor, as
    mm's data preprocessors pad."""
    if manifest['input']['size'] is not None:
        return tuple(manifest['input']['size'])
    divisor = manifest['input'].get('size_divisor', 1)
    return -(-new_h // divisor) * divisor, -(-new_w // divisor) * divisor


def graph_inputs(pixels: np.ndarray, manifest: dict) -> dict:
    """The graph's inputs by name (the pixels: the only one)."""
    return {manifest['input']['name']: pixels}


def prepare(image: np.ndarray, manifest: dict) -> Tuple[np.ndarray, dict]:
    """``(H, W, 3)`` uint8 BGR -> ``((1, 3, H_in, W_in) float32, meta)``:
    resized as the test pipeline does, then padded bottom/right to the
    input size (:func:`input_size`) with the pixel value that normalises to
    0 (mm's data preprocessors pad after normalising, with 0).  ``meta``
    holds the original and resized sizes and the scale factors ``(w, h)``.
    """
    height, width = image.shape[:2]
    new_h, new_w = resized_size(height, width, manifest['preprocess'])
    in_h, in_w = input_size(new_h, new_w, manifest)
    if new_h > in_h or new_w > in_w:
        raise ArtefactError(
            f'the test pipeline resizes a {height}x{width} image to '
            f'{new_h}x{new_w}, larger than the artefact input {in_h}x{in_w}: '
            f'deploy with a larger --shape')
    if (new_h, new_w) != (height, width):
        image = cv2.resize(image, (new_w, new_h),
                           interpolation=cv2.INTER_LINEAR)
    pixels = np.empty((in_h, in_w, 3), np.float32)
    pixels[...] = np.asarray(manifest['input']['pad_value'], np.float32)
    pixels[:new_h, :new_w] = image
    meta = dict(ori_shape=(height, width), img_shape=(new_h, new_w),
                scale_factor=(new_w / width, new_h / height))
    return pixels.transpose(2, 0, 1)[None].copy(), meta
