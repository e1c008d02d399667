"""python -m schemas export | check | kafka-users"""

from __future__ import annotations

import argparse
import sys

from schemas.export import JSON_DIR, drift, export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas", description="The event contract's JSON Schema files")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("export", help=f"regenerate the JSON Schema files in {JSON_DIR}")
    sub.add_parser("check", help="exit 1 when the committed files drift from the models")
    sub.add_parser("kafka-users", help="regenerate deploy/k8s/users.yaml (Strimzi KafkaUsers) and "
                   "deploy/k8s/console.yaml (the console, with every office's credentials) from schemas/identities.py")
    args = parser.parse_args(argv)
    if args.command == "kafka-users":
        from schemas import k8s_console, strimzi

        for path, text in ((strimzi.USERS_FILE, strimzi.render()), (k8s_console.CONSOLE_FILE, k8s_console.render())):
            path.write_text(text, encoding="utf-8")
            print(path)
        return 0
    if args.command == "export":
        for path in export():
            print(path)
        return 0
    stale = drift()
    if stale:
        print("JSON Schema files drift from schemas/models.py: " + ", ".join(stale)
              + "\nrun: python -m schemas export", file=sys.stderr)
        return 1
    print("JSON Schema files match the models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
