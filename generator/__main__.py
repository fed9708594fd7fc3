"""``python -m generator`` runs sb-gen."""

from generator.cli import main

main()
