"""Receptive fields: exact on the captured graph, checked by a gradient probe, and the effective field.

- :mod:`~netanatomy.receptive.fields`: the per-axis algebra (size, jump, start) and ``FieldInfo``;
- :mod:`~netanatomy.receptive.ops`: how each aten op moves a field;
- :mod:`~netanatomy.receptive.engine`: the walk over the graph, alignment checks, ``receptive_field``;
- :mod:`~netanatomy.receptive.probe`: the independent numerical check (``netanatomy rf --verify``);
- :mod:`~netanatomy.receptive.erf`: the effective receptive field of Luo et al. 2016;
- :mod:`~netanatomy.receptive.report`: text and JSON of ``netanatomy rf`` (the command is in :mod:`netanatomy.cli.rf`).
"""
