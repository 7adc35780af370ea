"""Tables: ``modality`` (the plug-in), ``bundle`` (the model folder), ``schema`` and ``preprocessing``."""
