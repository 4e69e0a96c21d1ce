"""``python -m pgingest``: the same as the ``pgingest`` command."""

from pgingest.cli import main

main()
