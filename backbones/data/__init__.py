"""Datasets as the tools see them: checks of a config's data before and
during a run, the generated toy datasets, synthetic batches."""
