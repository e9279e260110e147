"""Image generation end to end: data sets and their training stream, run configs, training,
published checkpoints, sampling, PNG grids and image sets on disk (``idff train PRESET``,
``idff sample``, ``idff generate``, ``idff dump-real``). The ``image`` run kind is
:data:`idff.images.kind.KIND`.

Modules: :mod:`~idff.images.config` (a preset plus overrides), :mod:`~idff.images.train`,
:mod:`~idff.images.published`, :mod:`~idff.images.kind` (loading), :mod:`~idff.images.sample`,
:mod:`~idff.images.grid`, :mod:`~idff.images.report` (``--dry-run``),
:mod:`~idff.images.sets` (``generate``, ``dump-real``), :mod:`~idff.images.datasets`,
:mod:`~idff.images.batches`, :mod:`~idff.images.lmdb_images`,
:mod:`~idff.images.fashion_mnist`, :mod:`~idff.images.pixels`.
"""
