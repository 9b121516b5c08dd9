"""``python -m bot`` runs the ``syndbot`` command line."""

from bot.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
