"""`heartchain token issue --account ADDRESS|LABEL`: a new API token for a lost one.

Only whoever runs commands beside the data directory (its log.key and master.key) can do this:
the local administrator. The token is printed once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import sys

from heartchain.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser("token", help="issue an API token for an account (local admin)")
    actions = token.add_subparsers(dest="token_command", required=True)
    issue = actions.add_parser("issue", help="issue a new API token, shown once")
    issue.add_argument("--account", required=True, metavar="ADDRESS|LABEL",
                       help="the account's hc1… address, or its exact label "
                            "(e.g. 'heartchain operator')")
    issue.add_argument("--label", default="cli", help="a note stored with the token")


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.accounts.models import Account
    from heartchain.accounts.services import issue_token
    from heartchain.cli import _run
    from heartchain.db import init_db
    from heartchain.platform import build_platform

    master = settings.data_dir / "master.key"
    if not (settings.data_dir / "log.key").exists() or not (
            settings.master_key or master.exists()):
        print(f"heartchain token: {settings.data_dir} has no log.key and master.key: run this "
              "where the data directory is (HEARTCHAIN_DATA_DIR)", file=sys.stderr)
        return 2

    async def main() -> int:
        platform = build_platform(settings)
        await init_db(settings.database_url, create_schema=False)
        wanted = args.account.strip()
        account = await Account.get_or_none(address=wanted.lower())
        if account is None:
            named = await Account.filter(label=wanted).limit(2)
            if len(named) > 1:
                print(f"heartchain token: several accounts are labelled {wanted!r}: give the "
                      "address", file=sys.stderr)
                return 2
            account = named[0] if named else None
        if account is None:
            print(f"heartchain token: no account has the address or label {wanted!r}",
                  file=sys.stderr)
            return 2
        token = await issue_token(platform, account.address, args.label)
        print(f"account: {account.address} ({account.role}"
              f"{', ' + account.label if account.label else ''})")
        print(f"token:   {token}  (shown once; keep it secret)")
        return 0

    return _run(main)
