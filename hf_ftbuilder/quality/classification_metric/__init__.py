"""The baseline's metrics as an ``evaluate`` module: ``evaluate.load(hf_ftbuilder.quality.METRIC_PATH)``."""
