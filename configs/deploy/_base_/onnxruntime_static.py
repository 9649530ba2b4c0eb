# What both mmdeploy deploy configs share: a static ONNX graph for
# onnxruntime (mmdeploy 1.3.1's format).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    optimize=True)
backend_config = dict(type='onnxruntime')
