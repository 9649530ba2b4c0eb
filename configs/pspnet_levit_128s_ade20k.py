# PSPNet with a LeViT-128S backbone on ADE20K, 512x512, 80k iterations (no
# published result).  The EMO PSPNet recipe with the backbone swapped: the
# decode head on the stride-32 map (stage 2), the auxiliary head on stride 16
# (stage 1), as for every backbone here; LeViT's stride-64 stage is not used
# (an 8x8 map at 512x512, where the head's pooling and dilations see only
# padding).  Offsets beyond the trained bias tables (32x32 tokens at 512)
# keep the largest trained bias (bias_mode='absolute').
_base_ = './pspnet_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LeViT',
        arch='128S',
        out_indices=(0, 1, 2, 3),
        bias_mode='absolute',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/LeViT-128S-96703c44.pth')),
    decode_head=dict(in_channels=256),
    auxiliary_head=dict(in_channels=128))

# No weight decay on the attention-bias tables, as in the official training.
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'attention_biases': dict(decay_mult=0.)}))
