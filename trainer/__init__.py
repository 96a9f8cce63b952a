"""Fine-tuning pipeline: prepare data, train, predict (``python -m trainer --help``)."""
