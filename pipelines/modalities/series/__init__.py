"""Time series: ``modality`` (the plug-in), ``bundle`` (the model folder) and ``plots``."""
