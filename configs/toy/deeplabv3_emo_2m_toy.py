# The real DeepLabv3-EMO-2M ADE20K recipe on the embedded toy segmentation set
# (tools/make_toy_dataset.py ade20k data/toy_ade20k, the ADE20K layout with
# 0 = unlabelled).  What differs:
# - data: the toy set and its 5 classes (read by mmseg's BaseSegDataset, as
#   ADE20KDataset only accepts ADE20K's own class names), images scaled to a
#   256 short side with 256x256 crops instead of 512 to fit a CPU;
# - schedule: 600 iterations with a 10x learning rate, a fixed seed,
#   re-seeded every iteration (ReseedHook) with data workers restarted each
#   epoch, so that runs (killed and resumed ones too) repeat exactly;
# - no ImageNet weights exist offline, so the backbone starts from scratch.
_base_ = '../deeplabv3_emo_2m_ade20k.py'

data_root = 'data/toy_ade20k'
metainfo = dict(
    classes=('sky', 'ground', 'disc', 'box', 'stripe'),
    palette=[[70, 130, 180], [140, 120, 80], [220, 20, 60], [0, 0, 230],
             [250, 170, 30]])
crop_size = (256, 256)
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=None),
    decode_head=dict(num_classes=5),
    auxiliary_head=dict(num_classes=5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(1024, 256), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 256), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    num_workers=2,
    persistent_workers=False,
    dataset=dict(_delete_=True, pipeline=train_pipeline, **dataset,
                 data_prefix=dict(img_path='images/training',
                                  seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(_delete_=True, pipeline=test_pipeline, **dataset,
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation')))
test_dataloader = val_dataloader
val_evaluator = dict(iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1.2e-3))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
         by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=200, max_keep_ckpts=2))
custom_hooks = [dict(type='ReseedHook')]
randomness = dict(seed=0)
