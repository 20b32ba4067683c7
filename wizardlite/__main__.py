"""Run as: python -m wizardlite --help"""

from wizardlite.cli import app

app()
