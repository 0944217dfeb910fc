"""Training: the core both trainers share, and the image-classifier trainer on top of it.

The core (each module serves ``netanatomy train`` and ``netanatomy charrnn train`` alike):
``config`` (the run settings as dataclasses, the single source of defaults, no torch import),
``schedule`` (warm-up + cosine/step/constant learning rate), ``checkpoint`` (one versioned
format: atomic writes, ``weights_only`` loading, RNG states and data position for exact resume),
``metrics`` (the CSV/JSONL log) and ``plots``.

The image trainer's own parts: ``trainer`` (the loop), ``datasets``, ``augment``,
``distributed`` (DDP), ``predict`` and the lecture's ``experiments``. The char-model trainer's
own parts (corpus, truncated-BPTT batches, sampling) are in :mod:`netanatomy.charlm`.
"""
