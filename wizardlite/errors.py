"""The package's own exceptions. Their messages are shown to the user as one line, so they
say what went wrong and what to do next."""


class WizardliteError(Exception):
    """An error the user can act on. The CLI prints it in red and exits non-zero."""


class ConfigError(WizardliteError):
    """A recipe or command-line setting is wrong."""


class ModelError(WizardliteError):
    """A model file is missing, corrupt, or cannot be loaded."""


class DataError(WizardliteError):
    """Input data is missing, empty, or in a format we cannot read."""


class BackendError(WizardliteError):
    """A generation backend failed (server down, timeout, bad reply)."""
