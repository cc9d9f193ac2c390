"""User-facing errors shared by every stage.

Raise :class:`Mace4irError` (or a subclass) for anything a user can fix: bad input
files, wrong units, missing configs. The message must name the file, record or
molecule and say what is wrong; the CLI prints it as one line without a traceback.
"""


class Mace4irError(Exception):
    """An error caused by the user's input or environment, with a clear message."""


class DataFormatError(Mace4irError):
    """A data file is malformed (corrupt record, wrong field, wrong units...)."""


class ConfigError(Mace4irError):
    """A configuration file or option is invalid."""
