"""Character-level language models (CS231n Lecture 10).

One module per concern: ``corpus`` (vocabulary, UTF-8 checks, memory-mapped tokens, splits),
``batches`` (truncated-BPTT streams), ``train`` (the loop, on the training core of
:mod:`netanatomy.training`: config, schedule, checkpoint format, metrics log, plots),
``checkpoint`` (the char model's side of a checkpoint), ``sample`` (generation, ``--explain``
and the temperature table), ``hello`` (the lecture's toy), ``ngram`` (the Kneser-Ney Markov
baseline), ``ngram_text`` (the baseline on text files), ``markov`` (the non-Markov demonstration),
``run`` (setting up or resuming a training run), ``fetch`` (the Shakespeare corpus), and the lab:
``surprisal`` per character against the n-gram, ``cells`` and their feature search, ``gradflow``
through time, ``lab`` gathering them into ``charrnn inspect``'s page. The models
themselves live in the zoo (:mod:`netanatomy.zoo.charrnn`); the commands in :mod:`netanatomy.cli`.
"""
