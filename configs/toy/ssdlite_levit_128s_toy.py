# The toy SSDLite recipe (ssdlite_emo_2m_toy.py: toy data, classes and
# schedule) with the LeViT-128S backbone of ../ssdlite_levit_128s_coco.py,
# from scratch (no ImageNet weights offline, so BatchNorm is trained).
_base_ = './ssdlite_emo_2m_toy.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LeViT',
        arch='128S',
        out_indices=(2, 3),
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=(128, 256),
        out_channels=(128, 256, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(128, 256, 512, 256, 256, 128)))
# Weight decay as ../ssdlite_levit_128s_coco.py (the EMO toy recipe's
# exemption follows EMO's layer names).
optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        custom_keys={'attention_biases': dict(decay_mult=0.)}))
