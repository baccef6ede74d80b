"""Dataset card templates (Jinja2), shipped inside the wheel as ``hf_ftbuilder.cards``."""
