# The real SSDLite-EMO-2M recipe on the embedded toy detection set
# (tools/make_toy_dataset.py coco data/toy_coco).  What differs:
# - data: the toy set and its 4 classes; the pipeline keeps resize and flip
#   but drops Expand, MinIoURandomCrop and PhotoMetricDistortion: with them a
#   from-scratch model learns next to nothing in a CPU-sized schedule
#   (0.001 mAP after 6 epochs with all three, 0.14 without);
# - schedule: 10 epochs with a 50-iteration warmup, a fixed seed;
# - no ImageNet weights exist offline, so the backbone starts from scratch
#   and must learn its BatchNorm statistics (norm_eval=False).
_base_ = '../ssdlite_emo_2m_coco.py'

data_root = 'data/toy_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'cross'),
    palette=[(220, 20, 60), (0, 130, 230), (250, 170, 30), (0, 160, 80)])

model = dict(
    backbone=dict(init_cfg=None, norm_eval=False),
    bbox_head=dict(num_classes=4))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(320, 320), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        times=1,
        dataset=dict(
            data_root=data_root, metainfo=metainfo,
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs,
         end=max_epochs, by_epoch=True, eta_min=0)
]
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
