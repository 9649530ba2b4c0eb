# mmdeploy 1.3.1 deploy config (its own format): a segmentor to onnxruntime,
# static 512x512 input (the ADE20K crop), arg-max inside the graph.  Use
# with backbones.export.mmdeploy_compat (README "mmdeploy as a client").
_base_ = ['./_base_/onnxruntime_static.py']

onnx_config = dict(output_names=['output'], input_shape=(512, 512))
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
