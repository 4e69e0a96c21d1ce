"""Everything in schema ``pgingest``: its tables, and every query on them.

* ``schema``    migrations (``ensure_schema``) and the one "do these tables exist" check
* ``manifest``  ``pgingest.files``: fingerprints, load/skip decisions (for many files in
                one query: ``look_up``), the loaded and failed rows
* ``runs``      ``pgingest.runs``: a run's row from start to end, read back as its report
* ``rejects``   ``pgingest.rejects``: rejected records, written with their unit and read back
* ``status``    where each source stands (``pgingest status``)

Nothing outside this package writes SQL on ``pgingest.*`` tables.
"""
