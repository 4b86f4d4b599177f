"""Install the requirements of truss's own server template into this venv.

`make serve` runs truss's production server (truss_server.TrussServer) from the
installed truss package; in a container its requirements come from the image's
server requirements file. Here we read the same file from the truss package,
drop its index override and its numpy<2 pin (truss's own constraints file allows
numpy<3, and faster-whisper wants numpy 2), and install the rest under truss's
constraints.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import truss


def main() -> None:
    template = Path(truss.__file__).parent / "templates" / "server"
    lines = []
    for line in (template / "requirements.txt").read_text().splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped or stripped.startswith("-i") or stripped.startswith("numpy"):
            continue
        lines.append(stripped)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "pip", "install", "-q", "-r", handle.name, "-c", str(template / "constraints.txt")]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
