# mmdeploy 1.3.1 deploy config (its own format): a segmentor to onnxruntime,
# static 512x512 input (the ADE20K crop), argmax inside the graph.  Use with
# backbones.export.mmdeploy_compat (README "mmdeploy as a client").
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=(512, 512),
    optimize=True)
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
backend_config = dict(type='onnxruntime')
