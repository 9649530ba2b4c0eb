# mmdeploy 1.3.1 deploy config (its own format): a detector to onnxruntime,
# end to end with mmdeploy's NMS, static 320x320 input (SSDLite's test size).
# Use with our compatibility shim (backbones.export.mmdeploy_compat, README
# "mmdeploy as a client"); mmdeploy's own configs/ are not in its wheel.
# post_processing follows SSDLite's test_cfg (score 0.02, IoU 0.45, 200).
_base_ = ['./_base_/onnxruntime_static.py']

onnx_config = dict(output_names=['dets', 'labels'], input_shape=(320, 320))
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.02,
        confidence_threshold=0.005,
        iou_threshold=0.45,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=200,
        background_label_id=-1))
