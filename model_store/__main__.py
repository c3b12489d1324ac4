"""python -m model_store [--store DIR] list | show | promote | verify | delete | clean"""

from __future__ import annotations

import argparse
import json
import os
import sys

from model_store.errors import StoreError
from model_store.location import DEFAULT_STORE, HELP, default_store, open_store
from model_store.refs import DEFAULT_ALIAS, parse_ref


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model_store", description=__doc__)
    p.add_argument(
        "--store",
        default=default_store(os.environ),
        help=f"the store: {HELP} (default: $AE_STORE_DIR or ./{DEFAULT_STORE})",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="names, versions and aliases")
    show = sub.add_parser("show", help="print the manifest of name, name@alias or name@N")
    show.add_argument("ref")
    promote = sub.add_parser("promote", help="point an alias at a version (also rolls back)")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("--alias", default=DEFAULT_ALIAS)
    verify = sub.add_parser("verify", help="check checksums, weights and probe of a version")
    verify.add_argument("ref")
    delete = sub.add_parser("delete", help="delete a version no alias points to")
    delete.add_argument("name")
    delete.add_argument("version", type=int)
    clean = sub.add_parser("clean", help="remove leftovers of crashed publishes")
    clean.add_argument(
        "--older-than",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also remove unfinished publishes older than this, whoever runs them (on S3 the "
        "only way to clear a publisher that died on another machine)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = open_store(args.store)
    try:
        if args.command == "list":
            for name in store.names():
                aliases, problem = store.readable_aliases(name)
                if problem is not None:
                    print(f"{name}: aliases unreadable: {problem}")
                by_version: dict[int, list[str]] = {}
                for alias, v in aliases.items():
                    by_version.setdefault(v, []).append(alias)
                for v in store.versions(name):
                    tags = ",".join(sorted(by_version.get(v, [])))
                    print(f"{name}@{v}" + (f"  [{tags}]" if tags else ""))
        elif args.command == "show":
            ref = parse_ref(args.ref)
            print(store.manifest(ref.name, store.resolve(ref)).model_dump_json(indent=2))
        elif args.command == "promote":
            previous = store.set_alias(args.name, args.alias, args.version)
            print(f"{args.name}@{args.alias}: {previous} -> {args.version}")
        elif args.command == "verify":
            from model_store.artifact import load_version  # torch: only this command needs it

            ref = parse_ref(args.ref)
            loaded = load_version(store, ref.name, store.resolve(ref))
            print(
                json.dumps({"ok": True, "model": loaded.ref, "files": len(loaded.manifest.files)})
            )
        elif args.command == "delete":
            store.delete(args.name, args.version)
            print(f"deleted {args.name}@{args.version}")
        elif args.command == "clean":
            for path in store.clean(args.older_than):
                print(f"removed {path}")
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
