"""`heartchain demo`: a log seeded with every domain's demo data, served with two witnesses."""

from __future__ import annotations

import argparse
import os
import sys

from heartchain.clock import Clock
from heartchain.ledger.entries import parse_time
from heartchain.settings import Settings


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain import demo
    from heartchain.cli import _init, _run, cmd_serve
    from heartchain.demo_links import demo_pages
    from heartchain.serving import port_in_use, settle_public_url

    witness_ports = demo_witness_ports(args)
    if args.serve:
        for host, port in [(args.host, args.port),
                           *(("127.0.0.1", p) for p in witness_ports)]:
            busy = port_in_use(host, port)
            if busy:
                print(f"heartchain demo: {busy}", file=sys.stderr)
                return 1
    warning = settle_public_url(os.environ, args.host, args.port)
    if warning:
        print(warning, file=sys.stderr)
    settings = settings.with_(public_url=os.environ["HEARTCHAIN_PUBLIC_URL"].rstrip("/"))

    async def main() -> int:
        # The demo's history (waiting periods, notice windows) is simulated over the months
        # before today, so the log's clock never runs ahead of the wall clock; its witnesses
        # cosign at seeding time, which is what bounds when the demo data really appeared.
        clock = Clock(-demo.HISTORY)
        platform, genesis = await _init(settings, clock)
        latest = await platform.log.latest_checkpoint()
        if parse_time(latest.signed_at) > clock.now():
            clock.advance(parse_time(latest.signed_at) - clock.now())
        state = None
        if await demo.already_seeded():
            print("demo data is already in this log; nothing seeded")
        else:
            state = await demo.run_demo(platform, genesis.operator, witness_ports=witness_ports)
            print("seeded:")
            for note in state.notes:
                print(f"  {note}")
        print(f"\nlog size {await platform.log.size()}.")
        print("tokens (shown once; a lost one: heartchain token issue --account ADDRESS):")
        if genesis.token:
            print(f"  operator: {genesis.operator}  token {genesis.token}")
        if state is not None:
            for label, token in state.tokens.items():
                print(f"  {label}: {state.organisations[label]}  token {token}")
        else:
            print("  (issued when the demo was first seeded)")
        print("open:")
        for what, url in await demo_pages(platform):
            print(f"  {url}\n      {what}")
        console_as = demo.ORGANISATIONS[0][1]
        if state is not None and console_as in state.tokens:
            print(f"  {settings.public_url}/console\n      the charity console: sign in as "
                  f"{console_as} with\n      {state.tokens[console_as]}")
        else:
            print(f"  {settings.public_url}/console\n      the charity console (sign in with "
                  "a charity's token)")
        if state is not None and state.commands:
            print("try:")
            for what, command in state.commands:
                print(f"  {command}\n      {what}")
        return 0

    code = _run(main)
    if code == 0 and args.serve:
        from heartchain.platform import load_log_signer
        from heartchain.witness.demo import demo_witnesses

        # The two demo witnesses run beside the server, which submits checkpoints to them.
        with demo_witnesses(settings, load_log_signer(settings).verifier_key, witness_ports):
            return cmd_serve(args, settings)
    return code


def demo_witness_ports(args: argparse.Namespace) -> tuple[int, int]:
    """--witness-ports A,B, else the served port + 101 and + 102 (8101, 8102 beside 8000)."""
    if args.witness_ports:
        first, _, second = args.witness_ports.partition(",")
        return int(first), int(second)
    return args.port + 101, args.port + 102


def port_pair(text: str) -> str:
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and 0 < int(p) < 65536 for p in parts):
        raise argparse.ArgumentTypeError("two ports, as A,B")
    if parts[0].strip() == parts[1].strip():
        raise argparse.ArgumentTypeError("the two witnesses need two different ports")
    return ",".join(p.strip() for p in parts)
