# DeepLabv3 with an EMO-6M backbone on ADE20K, 512x512, 80k iterations
# (no official result; window 16 as for 5M).
_base_ = './deeplabv3_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        arch='6M',
        window_size=16,
        init_cfg=dict(checkpoint='checkpoints/emo_6m_net.pth')),
    decode_head=dict(in_channels=320),
    auxiliary_head=dict(in_channels=160))
