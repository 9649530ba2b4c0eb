# DeepLabv3 with an EMO-1M backbone on ADE20K, 512x512, 80k iterations
# (EMO paper: 33.5 mIoU, 5.6M params, 2.4G FLOPs).
_base_ = './deeplabv3_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        arch='1M',
        window_size=7,
        init_cfg=dict(checkpoint='checkpoints/emo_1m_net.pth')),
    decode_head=dict(in_channels=168),
    auxiliary_head=dict(in_channels=80))
