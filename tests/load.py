"""A bounded HTTP load generator, run as its own process so it never shares a GIL
with the server it measures.

    python tests/load.py URL --requests 3000 --concurrency 50 [--seconds 60]
        [--method POST --body '{"name": "x"}' --header 'Content-Type: application/json']

Sends requests (GET unless --method says otherwise, with the given headers and
body) over fresh connections (one request each, as gunicorn's sync workers
serve them) from `concurrency` clients until `requests` have been sent or
`seconds` have passed (or SIGTERM arrives: requests in flight still finish),
then prints one JSON object: counts by status, errors by
kind, requests per second and latency percentiles in milliseconds. Loopback
targets only: it refuses any other host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


async def one_request(host: str, port: int, path: str, request: Request) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = f"{request.method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        for header in request.headers:
            head += f"{header}\r\n"
        if request.body is not None:
            head += f"Content-Length: {len(request.body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (request.body or b""))
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before a response")
        await reader.read()  # the rest, until the server closes
        return int(status_line.split()[1])
    finally:
        writer.close()


@dataclass
class Request:
    method: str = "GET"
    headers: list[str] = field(default_factory=list)
    body: bytes | None = None


async def run(
    url: str, total: int, concurrency: int, seconds: float, request: Request | None = None
) -> dict[str, object]:
    request = request or Request()
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load {parts.hostname}: loopback addresses only")
    host, port, path = parts.hostname, parts.port or 80, parts.path or "/"
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    sent = 0
    deadline = time.monotonic() + seconds

    def stop_sending() -> None:
        nonlocal deadline
        deadline = 0

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop_sending)

    async def client() -> None:
        nonlocal sent
        while sent < total and time.monotonic() < deadline:
            sent += 1
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(one_request(host, port, path, request), timeout=10)
            except (TimeoutError, OSError, ValueError, IndexError) as error:
                errors[type(error).__name__] += 1
            else:
                statuses[status] += 1
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(fraction: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))], 2)

    return {
        "sent": sent,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "errors": dict(errors),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(sum(statuses.values()) / elapsed, 1),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--body", help="sent as is, with its Content-Length")
    options = parser.parse_args()
    body = None if options.body is None else options.body.encode()
    request = Request(options.method, options.header, body)
    result = asyncio.run(
        run(options.url, options.requests, options.concurrency, options.seconds, request)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
