"""Hold many idle OCPP connections open (one worker process of the idle-capacity test).

Driven over stdin/stdout by bench/run.py, one command per line:

    grow N   open N more stations: connect, BootNotification, wait for the answer, then idle
             -> "ok <opened> <failed> <still open> <errors as JSON>"
    status   -> the same line, without opening anything
    quit     exit at once (the operating system closes the sockets)

The stations never send anything after their boot; their websockets connection answers the
server's keepalive pings by itself. Several workers share the load because one Python process
holding 10,000 sockets would make the client, not the server, the thing being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
from typing import Any

from websockets.asyncio.client import connect
from websockets.protocol import State

OPEN_TIMEOUT = 30.0


async def open_station(url: str, identity: str) -> Any:
    ws = await connect(
        f"{url}/{identity}",
        subprotocols=["ocpp1.6"],
        compression=None,
        ping_interval=None,
        open_timeout=OPEN_TIMEOUT,
        max_queue=2,
        # Small buffers: idle stations receive only pings.
        write_limit=4096,
    )
    await ws.send(
        '[2,"1","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"Idle"}]'
    )
    answer = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
    if answer[0] != 3 or answer[2].get("status") != "Accepted":
        await ws.close()
        raise RuntimeError(f"{identity}: boot not accepted: {answer}")
    return ws


async def main_async(args: argparse.Namespace) -> None:
    held: list[Any] = []
    failed = 0
    errors: list[str] = []
    semaphore = asyncio.Semaphore(args.concurrency)
    loop = asyncio.get_running_loop()

    async def one(index: int) -> None:
        nonlocal failed
        async with semaphore:
            try:
                held.append(await open_station(args.url, f"{args.prefix}-{index:05d}"))
            except Exception as exc:
                failed += 1
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

    next_index = 0
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = line.split()
        if not command or command[0] == "quit":
            sys.stdout.flush()
            os._exit(0)
        if command[0] == "status":
            alive = sum(1 for ws in held if ws.state is State.OPEN)
            print(f"ok {len(held)} {failed} {alive} {json.dumps(errors)}", flush=True)
        elif command[0] == "grow":
            count = int(command[1])
            indexes = range(next_index, next_index + count)
            next_index += count
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(one(i) for i in indexes)), args.stage_timeout
                )
            except TimeoutError:
                errors.append(f"stage did not finish within {args.stage_timeout} s")
            # Still open: the server may have dropped stations it had accepted.
            alive = sum(1 for ws in held if ws.state is State.OPEN)
            print(f"ok {len(held)} {failed} {alive} {json.dumps(errors)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Idle OCPP stations for the capacity test")
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stage-timeout", type=float, default=300.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
