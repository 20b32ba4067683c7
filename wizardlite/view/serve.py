"""Datasette on the loopback interface over a run's export, with the project's plugin and
templates; the browser opens once the server answers; Ctrl-C stops it.

Run as: wizardlite view runs/default [--port N] [--no-open]
"""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite.errors import ConfigError
from wizardlite.view.queries import metadata

HOST = "127.0.0.1"  # loopback only: the view is for the person at this machine
DEFAULT_PORT = 8001
TEMPLATES = Path(__file__).parent / "templates"
SETTINGS = {
    "truncate_cells_html": 300,  # table pages stay readable; a record's page shows the whole text
    "default_page_size": 50,
    "facet_time_limit_ms": 2000,  # facets on 250k records take a few hundred ms
    "sql_time_limit_ms": 10000,
    "suggest_facets": False,
}


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick_port(port: int | None) -> int:
    """`port` when given (an error if taken), else DEFAULT_PORT when free, else one the OS picks."""
    if port is not None:
        if not _free(port):
            raise ConfigError(f"port {port} on {HOST} is in use: pass another --port, or leave it out to pick a free one")
        return port
    if _free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _open_when_up(port: int, url: str, timeout_s: float = 30.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        webbrowser.open(url)
        return


def datasette(db: Path, run_name: str) -> Any:
    """A Datasette instance over the export `db`, with the project's plugin and templates."""
    try:
        from datasette.app import Datasette
        from datasette.plugins import pm
    except ImportError:
        raise ConfigError("Datasette is not installed: pip install 'datasette>=0.65,<0.66' "
                          "(or ./install.sh), or use --export PATH for the SQLite file alone") from None
    from wizardlite.view import plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, name="wizardlite-view")
    return Datasette([str(db)], metadata=metadata(db.stem, run_name), template_dir=str(TEMPLATES), settings=SETTINGS)


def serve(db: Path, run_name: str, port: int | None, open_browser: bool, console: Console) -> None:
    import uvicorn

    ds = datasette(db, run_name)
    port = pick_port(port)
    url = f"http://{HOST}:{port}/{db.stem}/records"
    console.print(f"view of {run_name}: [bold]{url}[/]  (Ctrl-C stops)", highlight=False)
    if open_browser:
        threading.Thread(target=_open_when_up, args=(port, url), daemon=True).start()
    uvicorn.run(ds.app(), host=HOST, port=port, log_level="warning", lifespan="on")
    console.print("view stopped")
