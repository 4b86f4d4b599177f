"""A truss served locally by truss's own production inference server, no Docker.

This mirrors what the Baseten image does:

- ``staging``: copy what the image uses (and what the truss's ``.truss_ignore`` lets
  through) into ``<build-dir>/truss``, with the config's GPU-only parts dropped;
- ``image``: render the Docker build context with truss's image builder and replay
  its Dockerfile into ``<build-dir>/fs`` (``build`` → ``BuiltTruss``);
- ``launch``: lock the build dir, then exec ``server_process.py`` with the image's
  environment (``serve``);
- ``server_process``: the server process itself, which serves ``fs/app`` the way
  ``/app/main.py`` does in the container, on 127.0.0.1;
- ``ports``: the address, and whether a port there is free.

``scripts/serve_local.py`` is the command line over this (``make serve``);
``tests/local_server.py`` runs that command as a subprocess and waits for the model.
Nothing here imports truss until it builds or serves.
"""

from scripts.local_truss.image import BuiltTruss, build, default_build_dir, server_env
from scripts.local_truss.launch import lock_build_dir, serve
from scripts.local_truss.ports import HOST, PortBusyError, free_port, next_free_port, port_is_free

__all__ = [
    "HOST",
    "BuiltTruss",
    "PortBusyError",
    "build",
    "default_build_dir",
    "free_port",
    "lock_build_dir",
    "next_free_port",
    "port_is_free",
    "serve",
    "server_env",
]
