"""Observing and rendering a run; nothing here writes to the database.

* observers: ``reporter`` (the events), ``metrics`` (counters, stage timers),
  ``progress``, ``timeline``, ``logs``, ``prometheus`` (live figures)
* renderers of the run's one summary (``pgingest.summary.RunReport``) and of what
  the store reads back: ``render`` (terminal), ``render_history``, ``run_page`` (HTML)
"""
