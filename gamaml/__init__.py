"""The machinery beside the lesson: what makes ``gamaml_helpers`` safe, measurable and visible.

``gamaml_helpers.py`` (top level) is the lesson a student reads; it imports from here, never the
reverse at import time, and re-exports the public names so that ``gh.<name>`` works for all.

* ``variants``: the method names and the one table of method variants (label, colour, ...).
* ``checks``: validation at the lesson's public boundary.
* ``config``: one config per task family (``LinearConfig``, ``SineConfig``), ``make_model``.
* ``evaluation``: ``adapt_and_evaluate``, a starting point adapted and scored.
* ``training``: seeds, held-out tasks, ``History`` and the bookkeeping of a run, ``Diverged``.
* ``plots``: the course's plotting functions.
* ``exercises``: the notebooks' exercise checker.
"""
