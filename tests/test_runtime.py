"""Deployment: every family on every backend gives PyTorch's answers, the
numpy post-processing is mmdet's, and bad artefacts or images are named in
one line (running without torch or mm*: test_device_install.py)."""
import json
import time

import numpy as np
import pytest
import torch

from backbones import config as mmconfig
from backbones.errors import ExportError
from backbones.export.artefact import deploy
from backbones.models.folding import switch_model_to_deploy
from backbones.runtime import ArtefactError, ImageError, load
from backbones.runtime.postprocess import batched_nms, detections
from helpers import REPO, randomise, spread_class_scores

pytestmark = pytest.mark.export

BACKENDS = ('onnxruntime', 'openvino', 'ncnn', 'mnn', 'executorch', 'litert')
# The default run covers OpenVINO with the segmentor's static and free-size
# artefacts; its other cases are second opinions of the same conversion and
# run under -m slow (the default run has a 15-minute budget on 2 cores).
OPENVINO_SLOW = pytest.param('openvino', marks=pytest.mark.slow)
FREE_SIZE_BACKENDS = ('onnxruntime', OPENVINO_SLOW)
# one detector per family, and one segmentor; all at a small static input
DETECTORS = {'EMO': 'toy/ssdlite_emo_2m_toy',
             'LeViT': 'ssdlite_levit_128s_coco',
             'EdgeNeXt': 'ssdlite_edgenext_xx_small_coco',
             'AsymmNet': 'ssdlite_asymmnet_small_coco'}
SEGMENTOR = 'deeplabv3_emo_1m_ade20k'
# ExecuTorch's XNNPACK lowering takes 40 s on the EMO segmentor, 15 s on
# this one (the EMO formulation is its detector's under -m slow); LiteRT's
# default segmentor is EdgeNeXt's, for its positional encoding stored as a
# buffer (LeViT's attention biases: the contract test's exported program)
SEGMENTOR_OF = {'executorch': 'deeplabv3_asymmnet_large_ade20k',
                'litert': 'deeplabv3_edgenext_xx_small_ade20k'}
SIZE = (96, 128)


def deployed_model(config: str):
    torch.manual_seed(0)
    cfg = mmconfig.load_config(REPO / 'configs' / f'{config}.py')
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize' and step.get('keep_ratio'):
            step['scale'] = SIZE[::-1]  # to fit the small artefact input
    model = mmconfig.build_model(cfg, init_weights=True).eval()
    randomise(model)
    return cfg, switch_model_to_deploy(model)


def an_image(seed: int = 0, size=(90, 150)) -> np.ndarray:
    """A BGR uint8 image of another size than the artefact input."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3),
                                                dtype=np.uint8)


@pytest.fixture(scope='module')
def ort_detector(tmp_path_factory):
    """An onnxruntime artefact of the toy SSDLite-EMO, and its model, with
    decisive class scores."""
    cfg, model = deployed_model(DETECTORS['EMO'])
    spread_class_scores(model)
    out = tmp_path_factory.mktemp('artefacts') / 'ssdlite_ort'
    deploy(model, cfg, 'onnxruntime', str(out), SIZE, source={},
           report=lambda line: None)
    return out, cfg, model


def mmdet_predictions(cfg, model, image: np.ndarray,
                      keep_scale: bool = False) -> dict:
    """What mmdet's own inference makes of ``image`` (the config's test
    pipeline, data preprocessor, head and NMS), with the artefact's static
    size as the Resize scale unless ``keep_scale``."""
    from mmdet.apis import inference_detector
    model.cfg = cfg.copy()
    pipeline = model.cfg.test_dataloader.dataset.pipeline
    for step in pipeline:
        if step['type'] == 'Resize' and not keep_scale:
            step['scale'] = SIZE[::-1]
    result = inference_detector(model, image).pred_instances
    return {k: result[k].numpy() for k in ('bboxes', 'scores', 'labels')}


# MNN and ExecuTorch: one detector each in the default run (MNN: EMO, for
# GELU and the attention formulation; ExecuTorch: AsymmNet, whose lowering
# is the quickest), the other families under -m slow. LiteRT's detectors
# (LeViT's 28-35 s) all run under -m slow since the default run passed 15
# minutes on slow VM days: its segmentor stays (below), ExecuTorch's
# detector covers torch.export's detector graph, and the contract test
# LeViT's attention biases stored as buffers in the exported program
DETECTOR_CASES = [
    pytest.param(family, backend, id=f'{backend}-{family}', marks=marks)
    for family in DETECTORS
    for backend, marks in (('onnxruntime', ()), ('openvino', pytest.mark.slow),
                           ('ncnn', ()),
                           ('mnn', () if family == 'EMO' else
                            pytest.mark.slow),
                           ('executorch', () if family == 'AsymmNet' else
                            pytest.mark.slow),
                           ('litert', pytest.mark.slow))]


@pytest.mark.parametrize('family, backend', DETECTOR_CASES)
def test_every_family_deploys_to_every_backend(family, backend, tmp_path):
    """The artefact's graph equals PyTorch's (the deploy step refuses it
    otherwise) and gives boxes in the image's pixels."""
    cfg, model = deployed_model(DETECTORS[family])
    out = tmp_path / 'artefact'
    manifest = deploy(model, cfg, backend, str(out), SIZE, source={},
                      report=lambda line: None)
    assert manifest['verified']['fp32_relative_difference'] <= 1e-4
    assert json.loads((out / 'manifest.json').read_text()) == manifest
    prediction = load(str(out))(an_image())
    boxes = prediction['bboxes']
    assert boxes.shape[1] == 4 and len(boxes) == len(prediction['scores'])
    assert (boxes >= 0).all() and (boxes[:, 2] <= 150).all() and \
        (boxes[:, 3] <= 90).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]


def check_segmentor(config: str, backend: str, tmp_path) -> None:
    """The static artefact equals PyTorch (the deploy step's check) and
    labels an image of another size at that image's size."""
    cfg, model = deployed_model(config)
    out = tmp_path / 'artefact'
    manifest = deploy(model, cfg, backend, str(out), SIZE, source={},
                      report=lambda line: None)
    assert manifest['verified']['fp32_relative_difference'] <= 1e-4
    seg = load(str(out))(an_image(size=(70, 100)))['sem_seg']
    assert seg.shape == (70, 100) and seg.max() < 150


# ExecuTorch's segmentor (20-23 s) under -m slow: its detector stays in the
# default run, and LiteRT's segmentor covers torch.export's segmentation
# graph there (the default run was at 15 minutes on a slow VM day)
SEGMENTOR_BACKENDS = [pytest.param(backend, marks=pytest.mark.slow)
                      if backend == 'executorch' else backend
                      for backend in BACKENDS]


@pytest.mark.parametrize('backend', SEGMENTOR_BACKENDS)
def test_segmentor_deploys_to_every_backend(backend, tmp_path):
    check_segmentor(SEGMENTOR_OF.get(backend, SEGMENTOR), backend, tmp_path)


# keep-ratio test pipelines: one segmentor per family, and a RetinaNet
KEEP_RATIO_SEGMENTORS = {'EMO': 'deeplabv3_emo_1m_ade20k',
                         'LeViT': 'pspnet_levit_128s_ade20k',
                         'EdgeNeXt': 'deeplabv3_edgenext_xx_small_ade20k',
                         'AsymmNet': 'deeplabv3_asymmnet_large_ade20k'}


# the phone runtimes' other segmentors: one per family (what the default
# run leaves out)
PHONE_SEGMENTOR_CASES = [
    pytest.param(family, backend, id=f'{backend}-{family}')
    for family in ('EMO', 'LeViT', 'EdgeNeXt', 'AsymmNet')
    for backend in ('mnn', 'executorch', 'litert')
    if SEGMENTOR_OF.get(backend, SEGMENTOR) != KEEP_RATIO_SEGMENTORS[family]]


@pytest.mark.slow
@pytest.mark.parametrize('family, backend', PHONE_SEGMENTOR_CASES)
def test_every_family_segmentor_deploys_to_phone_runtimes(family, backend,
                                                          tmp_path):
    check_segmentor(KEEP_RATIO_SEGMENTORS[family], backend, tmp_path)


def mmseg_prediction(cfg, model, image: np.ndarray) -> np.ndarray:
    """mmseg's own inference of ``image`` with the config's test pipeline
    (keep-ratio resize, no padding)."""
    from mmseg.apis import inference_model
    model.cfg = cfg.copy()
    model.cfg.test_pipeline = cfg.test_dataloader.dataset.pipeline
    return inference_model(model, image).pred_sem_seg.data[0].numpy()


@pytest.mark.parametrize('family', KEEP_RATIO_SEGMENTORS)
@pytest.mark.parametrize('backend', FREE_SIZE_BACKENDS)
def test_free_size_segmentor_answers_as_mmseg(family, backend, tmp_path):
    """A keep-ratio pipeline's artefact takes each image at its resized
    size (checked against PyTorch at two sizes by the deploy step) and
    labels its pixels as mmseg's inference does."""
    cfg, model = deployed_model(KEEP_RATIO_SEGMENTORS[family])
    out = tmp_path / 'artefact'
    manifest = deploy(model, cfg, backend, str(out), SIZE, source={},
                      report=lambda line: None, free_size=True)
    assert manifest['input']['size'] is None
    assert manifest['verified']['fp32_relative_difference'] <= 1e-4
    artefact = load(str(out))
    for seed, size in ((0, (90, 150)), (1, (131, 77))):
        image = an_image(seed, size)
        got = artefact(image)['sem_seg']
        want = mmseg_prediction(cfg, model, image)
        assert got.shape == want.shape == size
        assert (got == want).mean() >= 0.999


@pytest.mark.parametrize('backend', FREE_SIZE_BACKENDS)
def test_free_size_retinanet_answers_as_mmdet(backend, tmp_path):
    """RetinaNet's keep-ratio pipeline pads to a multiple of 32 only: the
    artefact computes its priors per image, clips boxes to the resized
    image (not the padding) and gives mmdet's boxes."""
    cfg, model = deployed_model('retinanet_emo_1m_coco')
    spread_class_scores(model)
    out = tmp_path / 'artefact'
    manifest = deploy(model, cfg, backend, str(out), SIZE, source={},
                      report=lambda line: None, free_size=True)
    assert manifest['input']['size_divisor'] == 32
    artefact = load(str(out))
    for seed, size in ((2, (90, 150)), (3, (120, 64))):
        image = an_image(seed, size)
        want = mmdet_predictions(cfg, model, image, keep_scale=True)
        got = artefact(image)
        assert len(got['scores']) == len(want['scores']) > 10
        np.testing.assert_array_equal(got['labels'], want['labels'])
        np.testing.assert_allclose(got['scores'], want['scores'], atol=1e-5)
        np.testing.assert_allclose(got['bboxes'], want['bboxes'], atol=1e-3)


def test_artefact_answers_as_mmdet_inference(ort_detector):
    """Image in, boxes out: the artefact's decode, score filter, NMS and
    rescaling give mmdet's predictions for the same image."""
    folder, cfg, model = ort_detector
    image = an_image(1)
    want = mmdet_predictions(cfg, model, image)
    got = load(str(folder))(image)
    assert len(got['scores']) == len(want['scores']) > 10
    np.testing.assert_array_equal(got['labels'], want['labels'])
    np.testing.assert_allclose(got['scores'], want['scores'], atol=1e-5)
    np.testing.assert_allclose(got['bboxes'], want['bboxes'], atol=1e-3)


@pytest.mark.parametrize('count, classes, extent', [(500, 4, 200),
                                                    (3000, 2, 600)])
def test_numpy_nms_equals_mmcv(count, classes, extent):
    """Both cases decide several blocks of candidates per class (the
    second about 20, with limits that end inside a block)."""
    from mmcv.ops import batched_nms as mmcv_batched_nms
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, extent, (count, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (count, 2))], 1)
    boxes = boxes.astype(np.float32)
    scores = rng.uniform(0, 1, count).astype(np.float32)
    labels = rng.integers(0, classes, count)
    _, want = mmcv_batched_nms(torch.from_numpy(boxes),
                               torch.from_numpy(scores),
                               torch.from_numpy(labels),
                               dict(iou_threshold=0.45))
    got = batched_nms(boxes, scores, labels, 0.45)
    assert count // 10 < len(got) < count
    np.testing.assert_array_equal(got, want.numpy())
    # stopping each class after max_per_img kept boxes keeps the best ones
    for limit in (1, 7, 30, 100):
        limited = batched_nms(boxes, scores, labels, 0.45, limit)
        assert len(limited) < len(got)
        np.testing.assert_array_equal(limited[:limit], got[:limit])


def test_postprocess_limits_as_mmdet():
    """nms_pre per level, the score threshold and max_per_img."""
    rng = np.random.default_rng(1)
    boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (30, 1))
    boxes += np.arange(30, dtype=np.float32)[:, None] * 20  # disjoint
    scores = rng.uniform(0, 1, (30, 2)).astype(np.float32)
    post = dict(score_thr=0.5, nms_pre=4, iou_threshold=0.5, max_per_img=6,
                min_bbox_size=-1, priors_per_level=[20, 10])
    meta = dict(scale_factor=(2.0, 0.5), img_shape=(600, 600))
    out = detections(boxes, scores, meta, post)
    assert len(out['scores']) == 6 and (out['scores'] > 0.5).all()
    assert (np.diff(out['scores']) <= 0).all()
    level0 = np.sort(scores[:20][scores[:20] > 0.5])[::-1][:4]
    assert set(out['scores']) <= set(level0) | set(scores[20:].ravel())
    np.testing.assert_allclose(out['bboxes'][:, 2] - out['bboxes'][:, 0], 5)
    np.testing.assert_allclose(out['bboxes'][:, 3] - out['bboxes'][:, 1], 20)


def test_bad_artefact_folders_are_named(ort_detector, tmp_path):
    import shutil
    folder = ort_detector[0]
    with pytest.raises(ArtefactError, match='artefact folder not found'):
        load(str(tmp_path / 'nope'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ArtefactError, match='has no manifest.json'):
        load(str(tmp_path / 'empty'))
    incomplete = tmp_path / 'incomplete'
    shutil.copytree(folder, incomplete)
    (incomplete / 'model.onnx').unlink()
    with pytest.raises(ArtefactError, match='model.onnx .model. is missing'):
        load(str(incomplete))
    cut = tmp_path / 'cut'
    shutil.copytree(folder, cut)
    data = (cut / 'model.onnx').read_bytes()
    (cut / 'model.onnx').write_bytes(data[:len(data) // 2])
    with pytest.raises(ArtefactError, match='does not match the sha256'):
        load(str(cut))
    other = tmp_path / 'other_version'
    shutil.copytree(folder, other)
    manifest = json.loads((other / 'manifest.json').read_text())
    manifest['format_version'] = 99
    (other / 'manifest.json').write_text(json.dumps(manifest))
    with pytest.raises(ArtefactError, match='format version 99'):
        load(str(other))


def test_undecodable_image_is_named(ort_detector, tmp_path):
    model = load(str(ort_detector[0]))
    text = tmp_path / 'notes.jpg'
    text.write_text('not an image')
    with pytest.raises(ImageError, match='cannot decode image .*notes.jpg'):
        model(str(text))
    with pytest.raises(ImageError, match='cannot read image'):
        model(str(tmp_path / 'missing.jpg'))
    with pytest.raises(ImageError, match=r'\(H, W, 3\) uint8'):
        model(np.zeros((8, 8), np.float32))


def test_model_a_backend_cannot_express_writes_nothing(tmp_path,
                                                       monkeypatch):
    """EMO's deploy windows use 6-D tensors: without its 4-D formulation
    ncnn has no layer for them, and the deploy stops naming the op and the
    backend before anything is written."""
    import contextlib

    import backbones.export.backends.ncnn as ncnn_export
    cfg, model = deployed_model(DETECTORS['EMO'])
    monkeypatch.setattr(ncnn_export, 'at_most_4d', contextlib.nullcontext)
    out = tmp_path / 'artefact'
    with pytest.raises(ExportError) as info:
        deploy(model, cfg, 'ncnn', str(out), SIZE, source={},
               report=lambda line: None)
    assert str(info.value).startswith('ncnn cannot express this model: it '
                                      'has no layer for Tensor.reshape')
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_executorch_int8_deploys_or_is_refused_in_one_line(tmp_path):
    """ExecuTorch int8 (PT2E, XNNPACK quantizer; the head stays in float):
    the AsymmNet and EMO detectors' programs run and stay near fp32 (EMO's
    q/k projection must be a plain linear layer of parameters: computed
    weights left quantize ops XNNPACK does not take); LeViT's quantized
    program is one XNNPACK will not load, which the deploy says in one
    line, writing nothing."""
    from backbones.export.quantize import prepared_inputs, quantizer
    rng = np.random.default_rng(0)
    calibration = quantizer('executorch', lambda manifest: prepared_inputs(
        [rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
         for _ in range(4)], manifest), report=lambda line: None)
    for family in ('AsymmNet', 'EMO'):
        cfg, model = deployed_model(DETECTORS[family])
        out = tmp_path / family.lower()
        manifest = deploy(model, cfg, 'executorch', str(out), SIZE,
                          source={}, quantize=calibration,
                          report=lambda line: None)
        assert manifest['precision'] == 'int8'
        quantization = manifest['quantization']
        assert quantization['relative_difference_from_fp32'] < 0.05
        assert 0 < quantization['kept_in_float']
        boxes = load(str(out))(an_image())['bboxes']
        assert boxes.ndim == 2 and boxes.shape[1] == 4
    cfg, model = deployed_model(DETECTORS['LeViT'])
    with pytest.raises(ExportError) as info:
        deploy(model, cfg, 'executorch', str(tmp_path / 'levit'), SIZE,
               source={}, quantize=calibration, report=lambda line: None)
    assert str(info.value).startswith('executorch cannot run the int8 '
                                      'model it made: ')
    assert '\n' not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['asymmnet', 'emo']


def test_converter_environment_that_cannot_be_made_writes_nothing(
        tmp_path, monkeypatch):
    """LiteRT's converter runs in an environment of its own, made on first
    use: when it cannot be made (here, a lock pip cannot read), the deploy
    stops in one line that says so (not that the model cannot be
    expressed), writes no artefact and marks no environment complete."""
    import backbones.export.converter_env as converter_env
    from backbones.errors import ConverterEnvironmentError
    locks = tmp_path / 'requirements'
    locks.mkdir()
    (locks / 'litert-converter.txt').write_text('not a requirement ===\n')
    monkeypatch.setattr(converter_env, 'REQUIREMENTS', locks)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    cfg, model = deployed_model(DETECTORS['AsymmNet'])
    out = tmp_path / 'out' / 'artefact'
    out.parent.mkdir()
    with pytest.raises(ConverterEnvironmentError) as info:
        deploy(model, cfg, 'litert', str(out), SIZE, source={},
               report=lambda line: None)
    message = str(info.value)
    assert message.startswith('could not make the litert-converter '
                              'environment in ') and '\n' not in message
    assert list(out.parent.iterdir()) == []
    env, = (tmp_path / 'cache' / 'mobiledense').iterdir()
    assert not (env / converter_env.COMPLETE).exists()


def test_converter_environment_is_made_once_by_concurrent_deploys(
        tmp_path, monkeypatch):
    """Two deploys that both find the LiteRT converter's environment
    missing make it once: the second waits and uses the first one's (two
    venv --clear runs into one folder would break each other)."""
    import threading

    import backbones.export.converter_env as converter_env
    made = []

    def make_slowly(name, env):
        made.append(name)
        time.sleep(0.5)  # long enough for the other caller to arrive
        (env / 'bin').mkdir(parents=True)
        (env / 'bin' / 'python').write_text('')
        (env / converter_env.COMPLETE).write_text('complete\n')

    monkeypatch.setattr(converter_env, 'make_environment', make_slowly)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    found = []
    callers = [threading.Thread(target=lambda: found.append(
        converter_env.converter_python('litert-converter')))
        for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert made == ['litert-converter']
    assert len(found) == 2 and found[0] == found[1] and found[0].is_file()


@pytest.mark.parametrize('src, dst', [((7, 9), (20, 33)), ((40, 30), (13, 17)),
                                      ((5, 5), (5, 8))])
def test_logit_resize_equals_mmseg(src, dst):
    """mmseg resizes logits with F.interpolate (bilinear, half-pixel)."""
    import torch.nn.functional as F

    from backbones.runtime.postprocess import resize_plane
    plane = torch.randn(*src)
    want = F.interpolate(plane[None, None], size=dst, mode='bilinear',
                         align_corners=False)[0, 0]
    np.testing.assert_allclose(resize_plane(plane.numpy(), dst), want,
                               atol=1e-5)


def test_class_map_equals_mmseg_resizes():
    """The head's logits to the input size, the padding cropped, to the
    original size, the best class: as mmseg's ``predict_by_feat`` and
    ``postprocess_result`` (two ``F.interpolate``, an arg-max)."""
    import torch.nn.functional as F

    from backbones.runtime.postprocess import segmentation
    logits = torch.randn(1, 150, 12, 16)
    meta = dict(img_shape=(90, 120), ori_shape=(61, 83))
    padded = F.interpolate(logits, size=(96, 128), mode='bilinear',
                           align_corners=False)
    want = F.interpolate(padded[:, :, :90, :120], size=(61, 83),
                         mode='bilinear', align_corners=False)[0].argmax(0)
    got = segmentation(logits[0].numpy(), meta, (96, 128))['sem_seg']
    assert got.shape == (61, 83) and got.dtype == np.int64
    assert (got == want.numpy()).mean() >= 0.999


def test_best_class_equals_argmax_with_ties():
    from backbones.runtime.postprocess import best_class
    rng = np.random.default_rng(0)
    logits = rng.integers(0, 4, (150, 33, 47)).astype(np.float32)  # ties
    logits[:, 0, 0] = 3  # all equal: the first class
    labels = best_class(logits)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, logits.argmax(0))


# A branching ncnn graph without weights: a heavy pooling, a split into two
# cheap activations joined again, a softmax; its output named as pnnx
# names outputs (out0, out1, ...)
BRANCHING_GRAPH = '''7767517
7 8
Input in0 0 1 in0
Pooling pool 1 1 in0 p 0=1 1=9 2=1 3=4 5=1
Split split 1 2 p s0 s1
ReLU relu 1 1 s0 r
Sigmoid sig 1 1 s1 g
BinaryOp add 2 1 r g a 0=0
Softmax softmax 1 1 a out0 0=0 1=1
'''


def test_ncnn_layer_profile_cuts_and_times(tmp_path):
    """ncnn's Python package has no profiler: a profiling session times
    each layer after computing what the layers before it hand on (both
    branches while they are apart); the per-type times add up to about a
    run, the heavy layer first."""
    (tmp_path / 'model.ncnn.param').write_text(BRANCHING_GRAPH)
    (tmp_path / 'model.ncnn.bin').write_bytes(b'\0' * 16)
    from backbones.runtime.sessions import open_session
    manifest = dict(files=dict(param='model.ncnn.param',
                               bin='model.ncnn.bin'),
                    precision='fp32', output_ndims=[4])
    session = open_session('ncnn', str(tmp_path), manifest, threads=1,
                           profile=True)
    names = [blob.name for blob in session.net.blobs()]
    assert [sorted(names[i] for i in cut) for cut in session.profile.cuts] \
        == [[], ['p'], ['s0', 's1'], ['r', 's1'], ['g', 'r'], ['a'],
            ['out0']]
    image = {'input': np.random.default_rng(0).random(
        (1, 24, 96, 96), dtype=np.float32)}
    plain = open_session('ncnn', str(tmp_path), manifest, threads=1)
    plain.run(image)  # its first run allocates
    # profiled runs (each a sweep) and plain runs take turns, and a plain
    # run is timed by this thread's CPU time (ncnn computes on the calling
    # thread at threads=1): on a loaded machine the wall time of every
    # one of ten plain runs could be several times a run (1.55x in CI
    # with the runs one after the other, 4x beside two busy loops here)
    cpu_times = []
    for _ in range(10):
        session.run(image)
        start = time.thread_time()
        plain.run(image)
        cpu_times.append(time.thread_time() - start)
    times = session.op_times()
    assert set(times) == {'Pooling', 'Split', 'ReLU', 'Sigmoid',
                          'BinaryOp', 'Softmax'}
    per_run = sum(times.values()) / 10
    assert max(times, key=times.get) == 'Pooling'
    assert times['Pooling'] > 0.5 * sum(times.values())
    # one run's worth (a plain session's fastest), not a sweep's
    assert 0.5 * min(cpu_times) < per_run < 1.5 * min(cpu_times)


def test_openvino_profile_tells_int8_layers_apart():
    """OpenVINO's counters name an int8 convolution or linear layer like an
    fp32 one; the kernel's name (as the counters of an NNCF int8 artefact
    and of its fp32 artefact give them) tells the precision, so that an
    int8 layer slower than fp32 shows in the profile."""
    from backbones.runtime.sessions.openvino import layer_label
    kernels = [('FullyConnected', 'jit_gemm_I8'),
               ('Convolution', 'jit_avx2_1x1_I8'),
               ('MatMul', 'jit_gemm_i8'),
               ('Convolution', 'brgconv_avx2_1x1_f32'),
               ('FullyConnected', 'gemm_mlas_f32'),
               ('Reorder', 'jit_uni_I8'),
               ('Transpose', 'unknown_i8'),
               ('Subgraph', 'jit_avx2_f32')]
    assert [layer_label(*k) for k in kernels] == [
        'FullyConnected int8', 'Convolution int8', 'MatMul int8',
        'Convolution', 'FullyConnected', 'Reorder', 'Transpose', 'Subgraph']


def test_openvino_profile_counts_each_run_once():
    """OpenVINO's counters give a layer's mean time over every run so far,
    in whole microseconds; a profile is each layer's total over the runs
    after the warm-up, not the sum of those means (which counted the
    first, cold run again at every later one)."""
    from datetime import timedelta
    from types import SimpleNamespace
    from backbones.runtime.sessions.openvino import Session
    run_times = {'Reorder': [900, 20, 20, 21, 19],  # us; the first is cold
                 'Convolution': [500, 400, 401, 399, 400]}

    class Request:  # counters as OpenVINO's CPU plugin gives them
        runs = 0

        @property
        def profiling_info(self):
            return [SimpleNamespace(
                status=SimpleNamespace(name='EXECUTED'), node_type=layer,
                exec_type='jit_avx2_f32', real_time=timedelta(
                    microseconds=sum(times[:self.runs]) // self.runs))
                for layer, times in run_times.items()]

    session = Session.__new__(Session)
    session.profile, session.counted = [], {}
    request = Request()
    for _ in range(5):
        request.runs += 1
        session.count_layers(request)
    after_warmup = session.op_times(skip_runs=2)
    assert after_warmup == pytest.approx(
        {'Reorder': 60e-6, 'Convolution': 1200e-6}, abs=3e-6)
    assert session.op_times()['Reorder'] == pytest.approx(980e-6, abs=5e-6)
    assert session.op_times(skip_runs=5) == {}


def test_onnxruntime_profile_skips_warmup_runs(tmp_path):
    """onnxruntime's profile tells its runs apart by their ``model_run``
    events: a profile without the warm-up runs counts the operators of the
    later runs only, and without every run counts nothing."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from backbones.runtime.sessions.onnxruntime import (inference_session,
                                                        node_times, op_times)
    weight = numpy_helper.from_array(
        np.ones((4, 3, 3, 3), np.float32), 'weight')
    graph = helper.make_graph(
        [helper.make_node('Conv', ['x', 'weight'], ['y'])], 'conv',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT,
                                       [1, 3, 16, 16])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
        [weight])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / 'conv.onnx'))
    session = inference_session(str(tmp_path / 'conv.onnx'), 1, True)
    for _ in range(3):
        session.run(None, {'x': np.ones((1, 3, 16, 16), np.float32)})
    assert op_times(session, skip_runs=3) == {}
    # two runs of one operator each; the first run's operator is skipped
    events = [dict(cat='Session', name='model_run', ts=0, dur=10),
              dict(cat='Node', name='c_kernel_time', ts=2, dur=8,
                   args=dict(op_name='Conv')),
              dict(cat='Session', name='model_run', ts=20, dur=5),
              dict(cat='Node', name='c_kernel_time', ts=21, dur=3,
                   args=dict(op_name='Conv'))]
    assert node_times(events) == pytest.approx({'Conv': 11e-6})
    assert node_times(events, skip_runs=1) == pytest.approx({'Conv': 3e-6})
    with pytest.raises(ArtefactError, match='model_run'):
        node_times(events[1::2], skip_runs=1)
