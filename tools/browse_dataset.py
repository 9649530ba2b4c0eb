"""Draw a config's training (or validation) samples after its pipeline.

    python tools/browse_dataset.py CONFIG --output-dir DIR [--split val]
        [--max-images N]

Each underlying image is drawn once, with its ground truth, as the model
would see it.  Wrappers that repeat a dataset (``RepeatDataset``,
``ClassBalancedDataset``) are browsed through the dataset they wrap, by
index.  mmdet 3.3's own ``browse_dataset.py`` loops ``for item in
dataset``, which relies on an IndexError to stop; ``RepeatDataset`` wraps
every index around instead, so that loop never ends.
"""
import os


from backbones import cli


def unwrap_repeats(dataset):
    """The dataset under repeat/balance wrappers (they only re-index it)."""
    while type(dataset).__name__ in ('RepeatDataset', 'ClassBalancedDataset'):
        dataset = dataset.dataset
    return dataset


def main(argv=None):
    parser = cli.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config')
    parser.add_argument('--output-dir', required=True)
    parser.add_argument('--split', choices=['train', 'val', 'test'],
                        default='train')
    parser.add_argument('--max-images', type=cli.positive_int, default=None,
                        help='stop after this many images (default: all)')
    cli.add_common_args(parser)
    args = parser.parse_args(argv)
    cli.preflight()
    cfg = cli.load_config(args.config, args.cfg_options)
    from mmengine.registry import DATASETS, VISUALIZERS, init_default_scope
    init_default_scope(cfg.default_scope)
    dataset = unwrap_repeats(
        DATASETS.build(cfg[f'{args.split}_dataloader'].dataset))
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dataset.metainfo
    os.makedirs(args.output_dir, exist_ok=True)
    count = len(dataset) if args.max_images is None else \
        min(args.max_images, len(dataset))
    for index in range(count):
        item = dataset[index]
        sample = item['data_samples']
        instances = sample.get('gt_instances')
        if instances is not None and hasattr(instances.get('bboxes'),
                                             'tensor'):
            # mmdet box structures -> the plain tensor the visualizer draws
            instances.bboxes = instances.bboxes.tensor
        image = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # to RGB
        name = os.path.basename(sample.img_path)
        visualizer.add_datasample(
            name, image, sample, draw_pred=False, show=False,
            out_file=os.path.join(args.output_dir, name))
    print(f'wrote {count} images to {args.output_dir}')
    return count


if __name__ == '__main__':
    cli.run_tool(main)
