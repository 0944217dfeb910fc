"""The ``netanatomy`` command line."""

from netanatomy.cli.main import main

__all__ = ["main"]
