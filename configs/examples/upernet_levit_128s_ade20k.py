# mmseg's stock UPerNet R50 on ADE20K (512x512, 80k) with the backbone
# swapped: the whole change is this file (maps at /4, /8, /16, /32).
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(
    imports=['backbones', 'backbones.mm_fixes'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True, type='LeViT', arch='128S', out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/LeViT-128S-96703c44.pth')),
    decode_head=dict(in_channels=[32, 64, 128, 256]),
    auxiliary_head=dict(in_channels=128))
