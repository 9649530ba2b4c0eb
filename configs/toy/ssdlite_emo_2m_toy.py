# The real SSDLite-EMO-2M recipe (../ssdlite_emo_2m_coco.py) on the embedded
# toy detection set (tools/make_toy_dataset.py coco data/toy_coco), sized for
# a 2-core CPU.  What differs:
# - data: the toy set and its 4 classes; the pipeline keeps resize and flip
#   but drops Expand, MinIoURandomCrop and PhotoMetricDistortion: with them a
#   from-scratch model learns next to nothing in a CPU-sized schedule
#   (0.001 mAP after 6 epochs with all three, 0.14 without);
# - 256x256 images instead of 320x320 (the SSD anchors follow any map size):
#   20% less time per iteration, and the toy objects are learnt sooner
#   (0.164 against 0.12 mAP after 6 of 10 epochs);
# - schedule: 8 epochs of batch 8 with a 50-iteration warmup; a fixed seed,
#   re-seeded before every epoch and iteration (ReseedHook) and data workers
#   restarted each epoch, so a run gives the same weights every time, also
#   when it is killed and resumed;
# - no ImageNet weights exist offline, so the backbone starts from scratch
#   and must learn its BatchNorm statistics (norm_eval=False).
_base_ = '../ssdlite_emo_2m_coco.py'

data_root = 'data/toy_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'cross'),
    palette=[(220, 20, 60), (0, 130, 230), (250, 170, 30), (0, 160, 80)])
image_size = (256, 256)

model = dict(
    backbone=dict(init_cfg=None, norm_eval=False),
    bbox_head=dict(num_classes=4))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        times=1,
        dataset=dict(
            data_root=data_root, metainfo=metainfo,
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs,
         end=max_epochs, by_epoch=True, eta_min=0)
]
default_hooks = dict(logger=dict(interval=10))
custom_hooks = [dict(type='ReseedHook')]
randomness = dict(seed=0)
