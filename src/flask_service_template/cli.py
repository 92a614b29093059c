"""`flask-template`: operate a fleet of services generated from the template.

    flask-template status   PROJECT ...   where each project stands (= flask-template-status)
    flask-template preview  PROJECT ...   what an update would change, in scratch clones
    flask-template update   PROJECT ...   update the projects that can take it, then a summary
    flask-template rollback PROJECT ...   undo an update: stash it, or revert its commit

`flask-template COMMAND --help` describes each command and its options.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence

from flask_service_template import preview, rollback, status, update

COMMANDS = {"status": status, "preview": preview, "update": update, "rollback": rollback}


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="flask-template",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        assert module.__doc__
        command = commands.add_parser(
            name,
            help=module.__doc__.splitlines()[0],
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if shutil.which("git") is None:
        print("flask-template: git is not installed or not on PATH; install git first")
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
