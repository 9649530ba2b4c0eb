# SSDLite with an AsymmNet-Small 1.0 backbone on COCO at 320x320 (no
# published result): the Large recipe with Small's /16 block (48 channels)
# and final 1x1 conv (576).  No Small weights were released: the config
# expects ImageNet weights trained with the official MXNet code (the same
# .params layout as the Large release) under this name.
_base_ = './ssdlite_asymmnet_large_coco.py'

model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(checkpoint='checkpoints/asymmnet_small_100.params')),
    neck=dict(
        in_channels=(48, 576),
        out_channels=(48, 576, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(48, 576, 512, 256, 256, 128)))
