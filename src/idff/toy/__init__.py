"""2D toy experiments end to end: the toy distributions, run configs and training, sampling,
quality versus NFE, figures and ``idff demo``. The ``toy`` run kind is
:data:`idff.toy.kind.KIND`.

Modules: :mod:`~idff.toy.data`, :mod:`~idff.toy.config`, :mod:`~idff.toy.train`,
:mod:`~idff.toy.sample`, :mod:`~idff.toy.evaluate`, :mod:`~idff.toy.kind` (loading),
:mod:`~idff.toy.plots`, :mod:`~idff.toy.demo`, :mod:`~idff.toy.demo_cache`.
"""
