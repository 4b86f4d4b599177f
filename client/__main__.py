import sys

try:
    from client.cli import main  # and everything a run imports (client.app), before argparse prints --help
except ModuleNotFoundError as exc:  # run with a Python that lacks the project's packages
    sys.exit(
        f"python -m client: this Python ({sys.executable}) lacks the package {exc.name!r}; "
        "run `make setup` in the repository, then use `.venv/bin/python -m client`"
    )

sys.exit(main())
