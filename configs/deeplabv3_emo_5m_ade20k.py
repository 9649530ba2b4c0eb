# DeepLabv3 with an EMO-5M backbone on ADE20K, 512x512, 80k iterations
# (EMO paper: 37.8 mIoU, 10.3M params, 5.8G FLOPs).
_base_ = './deeplabv3_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        arch='5M',
        window_size=16,
        init_cfg=dict(checkpoint='checkpoints/emo_5m_net.pth')),
    decode_head=dict(in_channels=288),
    auxiliary_head=dict(in_channels=160))
