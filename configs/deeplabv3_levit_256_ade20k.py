# DeepLabv3 with a LeViT-256 backbone on ADE20K, 512x512, 80k iterations (no
# published result): the LeViT-128S recipe with this variant's widths.
_base_ = './deeplabv3_levit_128s_ade20k.py'

model = dict(
    backbone=dict(
        arch='256',
        init_cfg=dict(checkpoint='checkpoints/LeViT-256-13b5763e.pth')),
    decode_head=dict(in_channels=384),
    auxiliary_head=dict(in_channels=256))
