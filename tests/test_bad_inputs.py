"""Inputs a new user gets wrong, each answered by one line that names the
problem (exit status 2 from the tools, a one-line ``ValueError`` from the
backbones), never a traceback.  docs/bad_inputs.md's table is generated
from the answers these tests record (tools/bad_inputs_doc.py)."""
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch

import backbones  # noqa: F401  (registers the backbones)
from helpers import REPO, save_untrained, tool_main

TOY_SSDLITE = REPO / 'configs' / 'toy' / 'ssdlite_emo_2m_toy.py'
TOY_LEVIT = REPO / 'configs' / 'toy' / 'ssdlite_levit_128s_toy.py'
TRAIN_IMAGE = 'data/toy_coco/train2017/000001.jpg'
TRAIN_ANN = 'data/toy_coco/annotations/instances_train2017.json'
ONE_EPOCH = ['--cfg-options', 'train_cfg.max_epochs=1',
             'train_dataloader.num_workers=0']


def write_logs_to_captured_streams():
    """MMEngine's loggers outlive a test; their console handlers would
    write to the streams an earlier test captured (and closed)."""
    import logging
    import sys

    from mmengine.logging import MMLogger
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stdout  # setStream flushes the old one


class Evil:
    """Pickles to a call of ``os.system``: loading must never run it."""

    def __reduce__(self):
        return os.system, ('touch PWNED', )


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """Small toy data and checkpoints, good and damaged."""
    from backbones.data.toy import make
    root = tmp_path_factory.mktemp('bad_inputs')
    make('coco', root / 'data' / 'toy_coco', 8, 4, seed=0)
    good = root / 'good.pth'
    save_untrained(TOY_SSDLITE, good)
    save_untrained(TOY_LEVIT, root / 'levit.pth')
    (root / 'empty.pth').write_bytes(b'')
    (root / 'truncated.pth').write_bytes(good.read_bytes()[:4000])
    content = torch.load(good)
    key = next(k for k in content['state_dict'] if k.startswith('backbone.'))
    content['state_dict'][key + '_renamed'] = content['state_dict'].pop(key)
    torch.save(content, root / 'renamed.pth')
    torch.save({'state_dict': {}, 'meta': Evil()}, root / 'evil.pth')
    (root / 'not_an_image.jpg').write_text('hello')
    (root / 'syntax.py').write_text('model = dict(\n')
    (root / 'notes.txt').write_text('model = 1\n')
    (root / 'bad_magic.params').write_bytes(b'\x00' * 64)
    from standin import write_mxnet_params
    params = root / 'short.params'
    write_mxnet_params(params, {'features.0.weight': torch.ones(16, 3, 3, 3)})
    params.write_bytes(params.read_bytes()[:-20])
    (root / 'run').mkdir()
    nan = torch.load(good)
    nan['state_dict'][key][...] = float('nan')
    torch.save(nan, root / 'nan.pth')
    (root / 'missing_base.py').write_text("_base_ = './no_such_base.py'\n")
    (root / 'raises.py').write_text('model = dict()\nratio = 1 / 0\n')
    return root


def damaged_data(root: Path, change) -> Path:
    """A copy of the workspace's toy data with ``change(copy)`` applied."""
    copy = root / 'run' / change.__name__
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root / 'data', copy / 'data')
    change(copy)
    return copy


def corrupt_image(ws):
    (ws / TRAIN_IMAGE).write_bytes(b'garbage')


def missing_image(ws):
    (ws / TRAIN_IMAGE).unlink()


def malformed_annotations(ws):
    (ws / TRAIN_ANN).write_text('{"images": [')


def edited_artefact(field: str, value):
    """A copy of the committed device artefact with one manifest field
    (``'input.size'``) set to ``value``."""
    def edit(ws):
        folder = ws / 'run' / 'edited_artefact'
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(REPO / 'tests' / 'fixtures' / 'device_artefact',
                        folder)
        manifest = json.loads((folder / 'manifest.json').read_text())
        *parents, key = field.split('.')
        node = manifest
        for parent in parents:
            node = node[parent]
        node[key] = value
        (folder / 'manifest.json').write_text(json.dumps(manifest))
    return edit


def empty_annotations(ws):
    (ws / TRAIN_ANN).write_text(
        json.dumps({'images': [], 'annotations': [], 'categories': []}))


def missing_annotations(ws):
    (ws / TRAIN_ANN).unlink()


def missing_data_root(ws):
    shutil.rmtree(ws / 'data')


def edit_annotations(ws, change):
    path = ws / TRAIN_ANN
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def duplicated_image_ids(ws):
    def change(content):
        content['images'][1]['id'] = content['images'][0]['id']
    edit_annotations(ws, change)


def annotation_of_missing_image(ws):
    def change(content):
        content['annotations'][0]['image_id'] = 99999
    edit_annotations(ws, change)


def image_size_disagrees(ws):
    def change(content):
        content['images'][0]['width'] += 7
    edit_annotations(ws, change)


def val_without_annotations(ws):
    path = ws / 'data/toy_coco/annotations/instances_val2017.json'
    content = json.loads(path.read_text())
    content['annotations'] = []
    path.write_text(json.dumps(content))


def annotations_as_list(ws):
    content = json.loads((ws / TRAIN_ANN).read_text())
    (ws / TRAIN_ANN).write_text(json.dumps(content['annotations']))


def image_without_file_name(ws):
    def change(content):
        del content['images'][2]['file_name']
    edit_annotations(ws, change)


def box_of_three_numbers(ws):
    def change(content):
        content['annotations'][3]['bbox'] = [1, 2, 3]
    edit_annotations(ws, change)


def category_name_twice(ws):
    def change(content):
        content['categories'][1]['name'] = content['categories'][0]['name']
    edit_annotations(ws, change)


def degenerate_box(ws):
    def change(content):
        content['annotations'][0]['bbox'][2] = 0
        content['annotations'][1]['category_id'] = 77
    edit_annotations(ws, change)


# (id, tool, arguments ({ws} is the workspace), data change or None,
#  a fragment of the one error line)
TOOL_CASES = [
    ('config-missing', 'train.py', ['{ws}/nope.py'], None,
     'config file not found'),
    ('config-syntax-error', 'train.py', ['{ws}/syntax.py'], None,
     'syntax.py'),
    ('config-not-python', 'train.py', ['{ws}/notes.txt'], None, 'notes.txt'),
    ('cfg-options-unknown-arch', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'model.backbone.arch=3M'], None,
     "model.backbone: Unknown EMO arch '3M'"),
    ('cfg-options-wrong-neck-channels', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'model.neck.in_channels=[10,20]'], None,
     'channel mismatch in the config'),
    ('config-classes-mismatch', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'model.bbox_head.num_classes=80'], None,
     'model.bbox_head.num_classes is 80 but the train_dataloader dataset '
     'has 4 classes'),
    ('amp-without-gpu', 'train.py', [TOY_SSDLITE, '--amp'], None,
     '--amp needs a CUDA GPU'),
    ('data-root-missing', 'train.py', [TOY_SSDLITE], missing_data_root,
     "data_root 'data/toy_coco/' does not exist"),
    ('annotation-file-missing', 'train.py', [TOY_SSDLITE],
     missing_annotations, 'instances_train2017.json\' does not exist'),
    ('annotation-file-malformed', 'train.py', [TOY_SSDLITE, *ONE_EPOCH],
     malformed_annotations, 'instances_train2017.json is not valid JSON'),
    ('annotation-file-empty', 'train.py', [TOY_SSDLITE, *ONE_EPOCH],
     empty_annotations, 'instances_train2017.json lists no images'),
    ('image-corrupt', 'train.py', [TOY_SSDLITE, *ONE_EPOCH], corrupt_image,
     f'1 image files that cannot be read (e.g. {TRAIN_IMAGE})'),
    ('image-missing', 'train.py', [TOY_SSDLITE, *ONE_EPOCH], missing_image,
     f'1 listed images without a file (e.g. {TRAIN_IMAGE})'),
    ('checkpoint-missing', 'test.py', [TOY_SSDLITE, '{ws}/nope.pth'], None,
     'checkpoint not found'),
    ('checkpoint-is-a-folder', 'test.py', [TOY_SSDLITE, '{ws}/run'], None,
     'is not an artefact folder: it has no manifest.json'),
    ('checkpoint-empty', 'test.py', [TOY_SSDLITE, '{ws}/empty.pth'], None,
     'empty.pth is empty (0 bytes)'),
    ('checkpoint-truncated', 'test.py', [TOY_SSDLITE, '{ws}/truncated.pth'],
     None, 'truncated.pth is damaged'),
    ('checkpoint-wrong-family', 'test.py', [TOY_SSDLITE, '{ws}/levit.pth'],
     None, 'levit.pth does not fit the SingleStageDetector of this config'),
    ('checkpoint-key-renamed', 'test.py', [TOY_SSDLITE, '{ws}/renamed.pth'],
     None, '1 missing keys: backbone.'),
    ('checkpoint-runs-code', 'test.py', [TOY_SSDLITE, '{ws}/evil.pth'], None,
     'posix.system'),
    ('test-out-not-pickle', 'test.py',
     [TOY_SSDLITE, '{ws}/good.pth', '--out', 'x.json'], None,
     '--out must end with .pkl'),
    ('benchmark-unknown-arch', 'benchmark.py', ['backbone:EMO:3M'], None,
     "Unknown EMO arch '3M'"),
    ('benchmark-unknown-backbone', 'benchmark.py', ['backbone:ResNet:50'],
     None, 'ResNet'),
    ('benchmark-bad-python-spec', 'benchmark.py', ['python:nowhere'], None,
     'python:MODULE:FUNCTION'),
    ('benchmark-train-batch-of-one', 'benchmark.py',
     [TOY_SSDLITE, '--train', '--batch', '1'], None,
     '--batch 1 cannot train this model'),
    ('benchmark-image-missing', 'benchmark.py',
     [TOY_SSDLITE, '--end-to-end', '--image', '{ws}/nope.jpg'], None,
     'cannot read image'),
    ('benchmark-not-an-image', 'benchmark.py',
     [TOY_SSDLITE, '--end-to-end', '--image', '{ws}/not_an_image.jpg'],
     None, 'not_an_image.jpg: not an image file'),
    ('export-zero-size', 'export_onnx.py',
     [TOY_SSDLITE, '{ws}/x.onnx', '--shape', '0', '0'], None,
     'argument --shape: must be at least 1, got 0'),
    ('demo-image-missing', 'demo.py',
     ['{ws}/nope.jpg', TOY_SSDLITE, '{ws}/good.pth'], None, 'nope.jpg'),
    ('demo-not-an-image', 'demo.py',
     ['{ws}/not_an_image.jpg', TOY_SSDLITE, '{ws}/good.pth'], None,
     'cannot decode 1 image(s)'),
    ('convert-source-missing', 'convert_checkpoint.py',
     ['{ws}/nope.params', '{ws}/out.pth', 'AsymmNet:large'], None,
     'checkpoint not found'),
    ('convert-wrong-family', 'convert_checkpoint.py',
     ['{ws}/levit.pth', '{ws}/out.pth', 'EMO:2M'], None,
     'matches no known EMO layout'),
    ('params-bad-magic', 'convert_checkpoint.py',
     ['{ws}/bad_magic.params', '{ws}/out.pth', 'AsymmNet:large'], None,
     'bad_magic.params'),
    ('params-truncated', 'convert_checkpoint.py',
     ['{ws}/short.params', '{ws}/out.pth', 'AsymmNet:large'], None,
     'short.params'),
    ('plot-no-logs', 'plot_curves.py', ['{ws}/run'], None, 'scalars.json'),
    # configuration problems mmengine raises deep inside
    ('config-base-missing', 'train.py', ['{ws}/missing_base.py'], None,
     'missing_base.py cannot be loaded: FileNotFoundError'),
    ('config-raises', 'train.py', ['{ws}/raises.py'], None,
     'raises.py cannot be loaded: ZeroDivisionError'),
    ('cfg-options-not-key-value', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'train_cfg.max_epochs'], None,
     "--cfg-options: 'train_cfg.max_epochs' is not key=value"),
    ('cfg-options-unknown-type', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'model.neck.type=NoSuchNeck'], None,
     'NoSuchNeck is not in the'),
    ('batch-size-zero', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'train_dataloader.batch_size=0'], None,
     'train_dataloader.batch_size must be a whole number of at least 1, '
     'got 0'),
    ('negative-learning-rate', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'optim_wrapper.optimizer.lr=-0.1'], None,
     'optim_wrapper.optimizer.lr must be a number >= 0, got -0.1'),
    ('launcher-pytorch-outside-torchrun', 'train.py',
     [TOY_SSDLITE, '--launcher', 'pytorch'], None,
     'start it with tools/dist_train.sh'),
    # what the runner builds only once the run starts
    ('cfg-options-unknown-optimizer', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'optim_wrapper.optimizer.type=NoSuchOpt'],
     None, "optim_wrapper.optimizer.type: 'NoSuchOpt' is not in the "
     "optimizers registry"),
    ('cfg-options-misspelt-optimizer-argument', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'optim_wrapper.optimizer.momentun=0.9'],
     None, "optim_wrapper.optimizer: AdamW takes no argument 'momentun'"),
    ('cfg-options-key-a-dataset-wrapper-does-not-take', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'train_dataloader.dataset.ann_file=a'],
     None, "train_dataloader.dataset: RepeatDataset takes no argument "
     "'ann_file'"),
    ('cfg-options-unknown-transform', 'train.py',
     [TOY_SSDLITE, '--cfg-options',
      'train_dataloader.dataset.dataset.pipeline.1.type=LoadAnnotation'],
     None, "pipeline[1].type: 'LoadAnnotation' is not in the transforms"),
    ('cfg-options-misspelt-evaluator-argument', 'test.py',
     [TOY_SSDLITE, '{ws}/good.pth', '--cfg-options',
      'test_evaluator.metrik=bbox'], None,
     "test_evaluator: CocoMetric takes no argument 'metrik'"),
    ('cfg-options-no-epochs', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'train_cfg.max_epochs=0'], None,
     'train_cfg.max_epochs must be a whole number of at least 1, got 0'),
    # paths that cannot be written
    ('export-into-missing-folder', 'export_onnx.py',
     [TOY_SSDLITE, '{ws}/no/such/folder/x.onnx'], None,
     'no/such/folder/x.onnx: No such file or directory'),
    ('toy-dataset-over-a-file', 'make_toy_dataset.py',
     ['coco', '{ws}/notes.txt/toy'], None,
     'notes.txt/toy: Not a directory'),
    # checkpoints that are not checkpoints, or hold NaN
    ('checkpoint-is-text', 'test.py', [TOY_SSDLITE, '{ws}/notes.txt'], None,
     'notes.txt is not a PyTorch checkpoint'),
    ('checkpoint-nan-test', 'test.py', [TOY_SSDLITE, '{ws}/nan.pth'], None,
     'nan.pth holds NaN or infinite values in 1 tensors'),
    ('checkpoint-nan-deploy', 'deploy.py',
     [TOY_SSDLITE, '{ws}/nan.pth', '--backend', 'onnxruntime', '--out',
      '{ws}/run/nan_artefact'], None, 'holds NaN or infinite values'),
    ('manifest-field-wrong-type', 'test.py',
     [TOY_SSDLITE, 'run/edited_artefact'],
     edited_artefact('postprocess.iou_threshold', '0.45'),
     'has 1 wrong field(s): postprocess.iou_threshold = "0.45" (must be a '
     'number in [0, 1])'),
    ('manifest-size-not-the-model-file', 'test.py',
     [TOY_SSDLITE, 'run/edited_artefact'],
     edited_artefact('input.size', [320, 320]),
     'model.onnx takes [256, 256] inputs but the manifest says input.size '
     '[320, 320]'),
    ('resume-without-optimizer-state', 'train.py',
     [TOY_SSDLITE, '--resume', '{ws}/good.pth'], None,
     'good.pth holds weights but no optimizer or scheduler state'),
    ('load-from-another-model', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'load_from={ws}/levit.pth'], None,
     "of this config (34%): it is another model's checkpoint"),
    ('resume-other-model', 'train.py',
     [TOY_SSDLITE, '--resume', '{ws}/levit.pth'], None,
     'levit.pth does not fit the SingleStageDetector of this config'),
    # numeric options
    ('benchmark-threads-zero', 'benchmark.py',
     ['backbone:EMO:1M', '--threads', '0'], None,
     'argument --threads: must be at least 1, got 0'),
    ('benchmark-reps-not-a-number', 'benchmark.py',
     ['backbone:EMO:1M', '--reps', 'ten'], None,
     "argument --reps/--iters: 'ten' is not a whole number"),
    ('deploy-calib-images-zero', 'deploy.py',
     [TOY_SSDLITE, '{ws}/good.pth', '--backend', 'onnxruntime', '--out',
      '{ws}/run/x', '--int8', '--calib-images', '0'], None,
     'argument --calib-images: must be at least 1, got 0'),
    ('deploy-ncnn-int8', 'deploy.py',
     [TOY_SSDLITE, '{ws}/good.pth', '--backend', 'ncnn', '--out',
      '{ws}/run/x', '--int8'], None, '--int8 is not available for ncnn'),
    ('deploy-litert-int8', 'deploy.py',
     [TOY_SSDLITE, '{ws}/good.pth', '--backend', 'litert', '--out',
      '{ws}/run/x', '--int8'], None, '--int8 is not available for litert: '
     "ai-edge-quantizer's static int8"),
    ('export-tolerance-negative', 'export_onnx.py',
     [TOY_SSDLITE, '{ws}/x.onnx', '--tolerance', '-1'], None,
     'argument --tolerance: must be above 0'),
    # annotation files mmdet would train on without a word
    ('annotations-duplicated-image-ids', 'train.py', [TOY_SSDLITE],
     duplicated_image_ids, '1 duplicated image ids (e.g. 1)'),
    ('annotations-of-missing-images', 'train.py', [TOY_SSDLITE],
     annotation_of_missing_image,
     '1 annotations of images not in "images" (e.g. annotation'),
    ('annotations-image-size-disagrees', 'check_dataset.py', [TOY_SSDLITE],
     image_size_disagrees, '1 images whose size disagrees with the file'),
    # what the libraries underneath would raise, named before anything runs
    ('config-is-a-deploy-config', 'get_flops.py',
     [REPO / 'configs' / 'deploy' / 'detection_onnxruntime_static-320x320.py'],
     None, 'is not a model config: it has no "model" (an mmdeploy deploy '
     'config'),
    ('seed-not-a-number', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'randomness.seed=abc'], None,
     "randomness.seed must be a whole number or None, got 'abc'"),
    ('launcher-slurm-outside-slurm', 'train.py',
     [TOY_SSDLITE, '--launcher', 'slurm'], None,
     '--launcher slurm outside the environment it starts in (no '
     'SLURM_PROCID)'),
    ('metric-the-model-cannot-produce', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'val_evaluator.metric=segm'], None,
     'val_evaluator.metric asks for segm, which a SingleStageDetector '
     'without a mask head cannot produce'),
    ('cfg-options-unbalanced-brackets', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'model.backbone.out_indices=[1,2'],
     None, '--cfg-options: Imbalanced brackets exist in [1,2'),
    ('dataset-repeated-zero-times', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'train_dataloader.dataset.times=0'],
     None, 'train_dataloader.dataset.times must be a whole number of at '
     'least 1, got 0'),
    ('device-unknown', 'benchmark.py',
     ['backbone:EMO:1M', '--device', 'nope'], None,
     "'nope' is not a torch device"),
    ('cfg-options-dict-value', 'train.py',
     [TOY_SSDLITE, '--cfg-options',
      "model.backbone.init_cfg=dict(type='X',checkpoint='y')"],
     None, '--cfg-options: mmengine cannot parse'),
    ('hook-argument-misspelt', 'train.py',
     [TOY_SSDLITE, '--cfg-options', 'default_hooks.checkpoint.max_keep_ckpt=2'],
     None, "default_hooks.checkpoint: CheckpointHook takes no argument "
     "'max_keep_ckpt'"),
    ('model-type-unknown', 'get_flops.py',
     [TOY_SSDLITE, '--cfg-options', 'model.type=Nope'], None,
     "building model 'Nope': KeyError: 'Nope is not in the mmdet::model "
     "registry"),
    # evaluation: ground truth of the same images
    ('evaluator-without-ground-truth', 'test.py',
     [TOY_SSDLITE, '{ws}/good.pth'], val_without_annotations,
     'has no annotations, so there is no ground truth to score against'),
    ('evaluator-of-another-split', 'test.py',
     [TOY_SSDLITE, '{ws}/good.pth', '--cfg-options',
      'test_evaluator.ann_file=data/toy_coco/annotations/'
      'instances_train2017.json'], None,
     'describes other images than test_dataloader'),
    ('annotation-file-is-a-list', 'train.py', [TOY_SSDLITE],
     annotations_as_list, 'instances_train2017.json is a list of'),
    ('annotations-image-without-file-name', 'train.py', [TOY_SSDLITE],
     image_without_file_name, '1 image entries without an int id, a '
     'file_name and positive width and height (e.g. images[2])'),
    ('annotations-box-of-three-numbers', 'check_dataset.py', [TOY_SSDLITE],
     box_of_three_numbers, '1 annotations without a bbox of 4 numbers '
     '(e.g. annotations[3] bbox [1, 2, 3])'),
    ('annotations-category-name-twice', 'train.py', [TOY_SSDLITE],
     category_name_twice, '1 category names given to several ids'),
    ('annotations-degenerate-box-strict', 'train.py',
     [TOY_SSDLITE, '--strict-data'], degenerate_box,
     '1 boxes without positive width and height'),
]


@pytest.mark.parametrize('case', TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_tool_answers_in_one_line(case, workspace, monkeypatch, capsys,
                                  record_property):
    from backbones import cli
    write_logs_to_captured_streams()
    _, script, args, change, expected = case
    if '--amp' in args and torch.cuda.is_available():
        pytest.skip('--amp is an error only without a GPU')
    cwd = damaged_data(workspace, change) if change else workspace
    monkeypatch.chdir(cwd)
    argv = [str(a).replace('{ws}', str(workspace)) for a in args]
    if script in ('train.py', 'test.py'):
        argv += ['--work-dir', str(cwd / 'run' / 'work_dir')]
    with pytest.raises(SystemExit) as ended:
        cli.run_tool(tool_main(script), argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith('error')]
    assert ended.value.code == 2, err[-3000:]
    assert 'Traceback' not in err, err[-3000:]
    assert len(errors) == 1 and expected in errors[0], err[-3000:]
    # docs/bad_inputs.md's table (tools/bad_inputs_doc.py, junitxml)
    record_property('answer', errors[0].replace(str(workspace), '<ws>')
                    .replace(f'{REPO}/', ''))
    assert not (workspace / 'PWNED').exists()


@pytest.mark.train
def test_boxes_outside_the_image_are_clipped_as_mmdet_does(workspace,
                                                           monkeypatch):
    """Boxes past the image border are clipped by mmdet's transforms and
    boxes left empty are dropped: training goes on."""
    def boxes_outside(ws):
        path = ws / TRAIN_ANN
        content = json.loads(path.read_text())
        content['annotations'][0]['bbox'] = [-40, -40, 500, 500]
        content['annotations'][1]['bbox'] = [5000, 5000, 30, 30]
        path.write_text(json.dumps(content))

    cwd = damaged_data(workspace, boxes_outside)
    monkeypatch.chdir(cwd)
    from backbones import cli
    runner = cli.run_tool(tool_main('train.py'), [
        str(TOY_SSDLITE), '--work-dir', str(cwd / 'run' / 'work_dir'),
        *ONE_EPOCH, 'train_dataloader.dataset.times=1'])
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss))


def test_text_file_as_pretrained_weights_is_named(workspace):
    from backbones import EMO
    from backbones.checkpoint import NotACheckpointError
    model = EMO('1M', init_cfg=dict(type='Pretrained',
                                    checkpoint=str(workspace / 'notes.txt')))
    with pytest.raises(NotACheckpointError,
                       match="notes.txt is not a PyTorch checkpoint .* it "
                       "starts with b'mo'"):
        model.init_weights()


def test_pretrained_file_missing_is_named(tmp_path):
    from mmengine.registry import MODELS
    backbone = MODELS.build(dict(type='EMO', init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'emo.pth'))))
    with pytest.raises(FileNotFoundError, match='emo.pth'):
        backbone.init_weights()


INPUT_CASES = [
    ('one-channel', 'EMO', torch.randn(1, 1, 64, 64),
     'expects 3 input channels, got 1'),
    ('no-batch-dimension', 'LeViT', torch.randn(3, 64, 64),
     'expects a float tensor of shape (N, 3, H, W)'),
    ('uint8-image', 'AsymmNet', torch.zeros(1, 3, 64, 64, dtype=torch.uint8),
     'torch.uint8'),
    ('too-small-for-edgenext', 'EdgeNeXt', torch.randn(1, 3, 16, 40),
     'needs inputs of at least 32x32 pixels'),
    ('nan', 'EMO', torch.full((1, 3, 64, 64), float('nan')),
     '12288 NaN or infinite values'),
    ('empty-batch', 'LeViT', torch.randn(0, 3, 64, 64), 'empty batch'),
    ('float64-input', 'EdgeNeXt', torch.randn(1, 3, 64, 64,
                                             dtype=torch.float64),
     'holds torch.float32 weights but got a torch.float64 input'),
]


@pytest.mark.parametrize('case', INPUT_CASES,
                         ids=[c[0] for c in INPUT_CASES])
def test_backbone_input_is_one_line(case, record_property):
    from mmengine.registry import MODELS
    _, family, x, expected = case
    backbone = MODELS.build(dict(type=family)).eval()
    with pytest.raises(ValueError) as raised:
        backbone(x)
    assert expected in str(raised.value)
    assert '\n' not in str(raised.value)
    record_property('answer', f'{type(raised.value).__name__}: {raised.value}')


def test_tiny_inputs_run_where_the_network_allows():
    """One pixel is enough for the padded convolutions of EMO, LeViT and
    AsymmNet: every map is then 1x1."""
    from mmengine.registry import MODELS
    for family in ('EMO', 'LeViT', 'AsymmNet'):
        backbone = MODELS.build(dict(type=family)).eval()
        with torch.no_grad():
            maps = backbone(torch.randn(1, 3, 1, 1))
        assert all(m.shape[-2:] == (1, 1) for m in maps), family


def test_ctrl_c_names_the_resumable_work_dir(workspace, monkeypatch, capsys):
    """Ctrl-C ends train.py with exit status 130 and the command that
    continues (what a killed run leaves behind is resumable:
    test_end_to_end.py kills one with SIGKILL and resumes it)."""
    from mmengine.runner import Runner

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, 'train', interrupted)
    monkeypatch.chdir(workspace)
    write_logs_to_captured_streams()
    work_dir = workspace / 'run' / 'interrupted'
    with pytest.raises(SystemExit) as ended:
        tool_main('train.py')([str(TOY_SSDLITE), '--work-dir',
                               str(work_dir)])
    assert ended.value.code == 130
    assert f'{work_dir} keeps the checkpoints' in capsys.readouterr().err


def test_huge_finite_inputs_are_not_mistaken_for_nan():
    """The NaN check sums the input; a sum that overflows is recounted:
    the backbone runs and its maps are those of any large input (finite
    where the network keeps them finite, never refused)."""
    from mmengine.registry import MODELS
    from backbones import InputError
    backbone = MODELS.build(dict(type='AsymmNet', arch='small')).eval()
    huge = torch.full((1, 3, 32, 32), 3e37)
    assert not torch.isfinite(huge.sum())  # the sum overflows
    try:
        with torch.no_grad():
            maps = backbone(huge)
    except InputError as err:  # pragma: no cover - the failure it guards
        pytest.fail(f'a finite input was refused: {err}')
    assert len(maps) == len(backbone.out_indices)
    assert [m.shape[1] for m in maps] == list(backbone.out_channels)


def test_boxes_mmdet_skips_are_counted_in_one_warning(workspace):
    from backbones.config import load_config
    from backbones.data.validate import validate
    copy = damaged_data(workspace, degenerate_box)
    cfg = load_config(str(TOY_SSDLITE))
    cfg.train_dataloader.dataset.dataset.data_root = str(
        copy / 'data' / 'toy_coco')
    lines = []
    validate(cfg, ['train_dataloader'], report=lines.append)
    assert len(lines) == 1 and lines[0].startswith('warning: ')
    assert '1 boxes without positive width and height' in lines[0]
    assert '1 annotations of unknown categories' in lines[0]


def test_second_training_in_a_work_dir_is_refused(tmp_path):
    from backbones import cli
    with cli.work_dir_lock(str(tmp_path)):
        with pytest.raises(cli.ToolError, match=f'{tmp_path} is in use by '
                           f'another training \\(pid {os.getpid()}'):
            with cli.work_dir_lock(str(tmp_path)):
                pass
    assert not (tmp_path / '.training.lock').exists()


def test_lock_of_a_killed_training_is_taken_over(tmp_path):
    import socket
    import subprocess
    from backbones import cli
    gone = subprocess.Popen(['true'])
    gone.wait()
    (tmp_path / '.training.lock').write_text(json.dumps(
        dict(pid=gone.pid, host=socket.gethostname(), since='earlier')))
    notes = []
    with cli.work_dir_lock(str(tmp_path), report=notes.append):
        holder = json.loads((tmp_path / '.training.lock').read_text())
        assert holder['pid'] == os.getpid()
    assert len(notes) == 1 and f'from pid {gone.pid}, which is gone' in \
        notes[0]


def test_failed_checkpoint_write_keeps_the_previous_file(tmp_path,
                                                         monkeypatch):
    """A full disk (the fsync fails) during a save leaves the previous
    checkpoint and pointer as they were, and no partial file."""
    import errno

    import backbones.mm_fixes  # noqa: F401  (installs the atomic writes)
    from mmengine.fileio.backends import LocalBackend
    from mmengine.hooks import checkpoint_hook
    from backbones.engine import atomic
    target = tmp_path / 'epoch_1.pth'
    LocalBackend().put(b'good checkpoint', target)
    with checkpoint_hook.open(tmp_path / 'last_checkpoint', 'w') as handle:
        handle.write(str(target))

    def full_disk(descriptor):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(atomic.os, 'fsync', full_disk)
    with pytest.raises(OSError):
        LocalBackend().put(b'partial', target)
    with pytest.raises(OSError):
        with checkpoint_hook.open(tmp_path / 'last_checkpoint', 'w') as h:
            h.write('partial pointer')
    assert target.read_bytes() == b'good checkpoint'
    assert (tmp_path / 'last_checkpoint').read_text() == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'epoch_1.pth', 'last_checkpoint']


@pytest.mark.train
def test_full_disk_stops_training_in_one_line_and_resumes(
        workspace, monkeypatch, capsys):
    """Training whose second checkpoint cannot be written stops with one
    line naming the checkpoint that still resumes."""
    import errno

    from backbones import cli
    from backbones.engine import atomic
    writes = []
    real_fsync = atomic.os.fsync

    def fsync_until_full(descriptor):
        writes.append(descriptor)
        # epoch_1.pth and last_checkpoint fit (each: the file, its folder)
        if len(writes) > 4:
            raise OSError(errno.ENOSPC, 'No space left on device')
        real_fsync(descriptor)

    monkeypatch.setattr(atomic.os, 'fsync', fsync_until_full)
    monkeypatch.chdir(workspace)
    write_logs_to_captured_streams()
    work_dir = workspace / 'run' / 'full_disk'
    with pytest.raises(SystemExit) as ended:
        cli.run_tool(tool_main('train.py'), [
            str(TOY_SSDLITE), '--work-dir', str(work_dir), '--cfg-options',
            'train_cfg.max_epochs=2', 'train_cfg.val_interval=5',
            'train_dataloader.num_workers=0'])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith('error')]
    assert ended.value.code == 2 and 'Traceback' not in err, err[-3000:]
    assert len(errors) == 1 and 'the disk is full' in errors[0]
    assert f'{work_dir}/epoch_1.pth still resumes' in errors[0]
    assert (work_dir / 'last_checkpoint').read_text().strip() == \
        str(work_dir / 'epoch_1.pth')
    assert not [p for p in work_dir.iterdir() if p.name.endswith('.tmp')]


def test_sigterm_leaves_a_resumable_work_dir(workspace, monkeypatch, capsys):
    """SIGTERM (Slurm, torchrun) ends train.py as Ctrl-C does."""
    import signal

    from mmengine.runner import Runner

    def terminated(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this

    monkeypatch.setattr(Runner, 'train', terminated)
    monkeypatch.chdir(workspace)
    write_logs_to_captured_streams()
    work_dir = workspace / 'run' / 'terminated'
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as ended:
            tool_main('train.py')([str(TOY_SSDLITE), '--work-dir',
                                   str(work_dir)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert ended.value.code == 130
    assert f'{work_dir} keeps the checkpoints' in capsys.readouterr().err
    assert not (work_dir / '.training.lock').exists()


def test_non_finite_loss_stops_training_naming_the_iteration():
    from types import SimpleNamespace

    from backbones.engine import NonFiniteTrainingError, StopOnNonFiniteHook
    hook = StopOnNonFiniteHook()
    runner = SimpleNamespace(iter=41, epoch=2, work_dir='work_dirs/x')
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.5)))
    with pytest.raises(NonFiniteTrainingError,
                       match=r'loss became nan at iteration 42 \(epoch 3\)'):
        hook.after_train_iter(runner, 0,
                              outputs=dict(loss=torch.tensor(float('nan'))))
    state = dict(state_dict={'a': torch.ones(2),
                             'b': torch.tensor([1.0, float('inf')])})
    with pytest.raises(NonFiniteTrainingError, match=r'1 weight tensors .*b'):
        hook.before_save_checkpoint(runner, state)


def test_input_whose_attention_cannot_fit_is_refused_before_allocating():
    from backbones import InputError, LeViT
    model = LeViT('128S').eval()
    with pytest.raises(InputError, match=r'stage 1 attends over 250000 '
                       r'tokens and needs 1862.6 GiB .* largest square '
                       r'input that fits is about \d+x\d+'):
        model(torch.empty(1, 3, 8000, 8000).fill_(0.5))


def test_nan_check_reads_nothing_back_from_an_accelerator():
    """The NaN/Inf check reads one scalar back: on CPU only, so a CUDA
    forward never waits for the device.  A meta tensor stands in for a
    device tensor: reading it back raises."""
    from backbones import EMO
    model = EMO('1M')
    model.check_input(torch.empty(1, 3, 64, 64, device='meta'))
    with pytest.raises(Exception, match='NaN or infinite'):
        model.check_input(torch.full((1, 3, 64, 64), float('nan')))


@pytest.mark.train
def test_resume_from_a_copied_checkpoint_leaves_the_origin_untouched(
        workspace, monkeypatch):
    """A checkpoint copied out of another work dir names that dir's best
    checkpoint; the resumed run finds a better score and must not delete
    it (mmengine 0.10.7 would: backbones.engine.own_work_dir)."""
    monkeypatch.chdir(workspace)
    write_logs_to_captured_streams()
    origin, copy = workspace / 'run' / 'origin', workspace / 'run' / 'copy'
    options = ['train_dataloader.num_workers=0',
               'val_dataloader.num_workers=0', 'train_cfg.val_interval=1']
    train = tool_main('train.py')
    train([str(TOY_SSDLITE), '--work-dir', str(origin), '--cfg-options',
           'train_cfg.max_epochs=1', *options])
    best, = origin.glob('best_*.pth')
    copy.mkdir()
    from backbones.checkpoint import read_checkpoint
    checkpoint = read_checkpoint(str(origin / 'epoch_1.pth'))
    hub = checkpoint['message_hub']['runtime_info']
    assert hub['best_ckpt'] == str(best)  # the origin's, absolute
    hub['best_score'] = -1.0  # any score of the resumed run is better
    torch.save(checkpoint, copy / 'epoch_1.pth')
    train([str(TOY_SSDLITE), '--work-dir', str(copy), '--resume',
           str(copy / 'epoch_1.pth'), '--cfg-options',
           'train_cfg.max_epochs=2', *options])
    assert best.is_file(), 'the resumed run deleted the origin\'s best'
    assert [p.name for p in copy.glob('best_*.pth')] == \
        ['best_coco_bbox_mAP_epoch_2.pth']
    assert sorted(p.name for p in origin.iterdir() if p.suffix == '.pth') \
        == sorted(['epoch_1.pth', best.name])


def test_plot_curves_skips_the_unfinished_last_line_of_a_running_training(
        tmp_path, capsys):
    """A training still writing leaves its last record cut short: skipped
    with a note.  A broken record before the last is still refused."""
    from backbones import cli
    logs = tmp_path / 'work' / '20261202_000000' / 'vis_data'
    logs.mkdir(parents=True)
    records = [dict(iter=i, loss=1.0 / i, lr=0.1) for i in (1, 2, 3)]
    text = ''.join(json.dumps(r) + '\n' for r in records)
    (logs / 'scalars.json').write_text(text + '{"iter": 4, "lo')
    out = tmp_path / 'curves.png'
    cli.run_tool(tool_main('plot_curves.py'),
                 [str(tmp_path / 'work'), '--out', str(out)])
    assert out.is_file()
    assert 'skipped the unfinished last line' in capsys.readouterr().err
    (logs / 'scalars.json').write_text('{"iter": 1, "lo\n' + text)
    with pytest.raises(SystemExit) as ended:
        cli.run_tool(tool_main('plot_curves.py'),
                     [str(tmp_path / 'work'), '--out', str(out)])
    assert ended.value.code == 2
    assert 'scalars.json:1 is not a JSON record' in capsys.readouterr().err


def test_load_from_another_class_count_trains_with_a_note(workspace):
    """Fine-tuning to another class count: only the classifier differs,
    so the checkpoint loads with a note naming what keeps its initial
    values (another model's file is refused: load-from-another-model)."""
    from backbones.checkpoint import check_fine_tune_source
    from backbones.config import build_model, load_config
    cfg = load_config(str(TOY_SSDLITE),
                      {'model.bbox_head.num_classes': 7})
    note = check_fine_tune_source(str(workspace / 'good.pth'),
                                  build_model(cfg))
    assert note.startswith('note: load_from ') and 'shape mismatches' in note
    assert 'cls_convs' in note and 'reg_convs' not in note
    assert check_fine_tune_source(
        str(workspace / 'good.pth'),
        build_model(load_config(str(TOY_SSDLITE)))) == ''


def test_image_sizes_are_read_in_the_frame_the_loader_decodes(tmp_path):
    """An EXIF-rotated JPEG is decoded turned by OpenCV and mmcv: a size
    annotated in that frame is right, the stored frame's is refused."""
    from PIL import Image

    from backbones.data.validate import check_coco
    image = Image.new('RGB', (40, 24), (200, 30, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # stored landscape, shown rotated by 90 degrees
    image.save(tmp_path / 'turned.jpg', exif=exif)
    import cv2
    assert cv2.imread(str(tmp_path / 'turned.jpg')).shape[:2] == (40, 24)

    def annotated(width, height):
        ann = tmp_path / f'{width}x{height}.json'
        ann.write_text(json.dumps({
            'images': [dict(id=1, file_name='turned.jpg', width=width,
                            height=height)],
            'annotations': [], 'categories': [dict(id=1, name='a')]}))
        return check_coco(str(ann), str(tmp_path))

    assert not annotated(24, 40).counts  # as decoded: accepted
    assert annotated(40, 24).counts[
        'images whose size disagrees with the file'] == 1


def test_debug_switch_shows_the_library_traceback(workspace, monkeypatch,
                                                  capsys):
    """A library's error is one line; MOBILEDENSE_DEBUG=1 puts its
    traceback before that line, so a real bug stays visible."""
    from backbones import cli
    monkeypatch.chdir(workspace)
    argv = [str(TOY_SSDLITE), '--cfg-options', 'model.type=Nope']
    for debug, traceback_shown in (('', False), ('1', True)):
        monkeypatch.setenv('MOBILEDENSE_DEBUG', debug)
        with pytest.raises(SystemExit) as ended:
            cli.run_tool(tool_main('get_flops.py'), argv)
        err = capsys.readouterr().err
        assert ended.value.code == 2
        assert ('Traceback (most recent call last)' in err) == \
            traceback_shown, err[-2000:]
        assert err.splitlines()[-1].startswith(
            "error: ") and "building model 'Nope'" in err.splitlines()[-1]


@pytest.mark.parametrize('checkpoint, answer', [
    ('/nope/backbone.pth', 'checkpoint not found: /nope/backbone.pth'),
    ('https://example.invalid/backbone.pth',
     'checkpoint https://example.invalid/backbone.pth is a URL: '
     'checkpoints are read from local files only')])
def test_pretrained_backbone_source_is_named(checkpoint, answer):
    """A backbone's Pretrained init (what train.py runs through mmengine's
    init_weights) from a missing file or a URL: one CheckpointError line;
    nothing is downloaded."""
    from backbones import EMO
    from backbones.errors import CheckpointNotFoundError
    backbone = EMO('1M', init_cfg=dict(type='Pretrained',
                                       checkpoint=checkpoint))
    with pytest.raises(CheckpointNotFoundError) as raised:
        backbone.init_weights()
    assert str(raised.value) == answer or \
        str(raised.value).startswith(answer)
