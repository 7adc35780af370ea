"""Images: ``modality`` (the plug-in), ``bundle`` (the model folder), ``files`` (reading), ``plots``, ``score_files``."""
