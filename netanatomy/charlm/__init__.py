"""Character-level language models (CS231n Lecture 10).

One module per concern: ``corpus`` (vocabulary, UTF-8 checks, memory-mapped tokens, splits),
``batches`` (truncated-BPTT streams), ``train`` (the loop), ``checkpoint``, ``sample``
(generation and ``--explain``), ``hello`` (the lecture's toy), ``reference_numpy`` (the
vanilla RNN from the lecture's equations), ``ngram`` (the Kneser-Ney Markov baseline),
``markov`` (the non-Markov demonstration), ``fetch`` (``netanatomy data shakespeare``), the lab
(``surprisal`` per character against the n-gram, ``cells`` and their feature search, ``gradflow``
through time, ``lab`` gathering them into ``charrnn inspect``'s page) and ``cli``. The models themselves live in the zoo (:mod:`netanatomy.zoo.charrnn`).
"""
