"""The local server's address: 127.0.0.1, and whether a port there is free."""

from __future__ import annotations

import errno
import socket

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether the server could bind ``port`` on 127.0.0.1 now (with SO_REUSEADDR, as uvicorn does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def next_free_port(after: int) -> int:
    """The first free port above ``after`` (a suggestion for the user; another process may take it)."""
    for port in range(after + 1, min(after + 100, 65536)):
        if port_is_free(port):
            return port
    return free_port()


class PortBusyError(RuntimeError):
    """The port is taken by another process; nothing of ours was started on it."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on {HOST} is busy")
        self.port = port
