"""WeChat intake throughput and latency through POST /wechat (safe mode), in one run.

Three targets, each a separate process on 127.0.0.1, driven by a loopback load generator in
this process with pre-signed, pre-encrypted pushes (as the platform sends them):

- `bare`: an aiohttp handler that only checks timestamp, signature and msg_signature;
- `sqlite`: `complaintbot serve` on a temp SQLite file;
- `postgresql`: `complaintbot serve` on a private schema of 127.0.0.1:5432/test (created and
  dropped here; skipped with a note when the server is unreachable).

Each target gets a warm-up, a closed-loop throughput phase (`--concurrency` drivers at once)
and an open-loop phase at a fixed rate (latency counted from the scheduled send time, so a
backlog shows). Drivers walk a whole intake (complaint text, privacy, confirmation, slot
answers, submit), so the mix includes classification and ticket filing. Bounded: it sends
a fixed number of messages and stops.

    .venv/bin/python bench/intake.py [--messages 2000] [--rate 200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from intake_load import AES_KEY, APP_ID, SCRIPT, TOKEN, Result, closed_loop, open_loop
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("COMPLAINTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATE = 500.0
TARGET_P99_MS = 100.0


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the bare handler ------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """Run the signature-only handler (the baseline) until killed."""
    from aiohttp import web

    from bot.channels.wechat_crypto import (
        CallbackRejected,
        check_signature,
        check_timestamp,
        parse_xml,
    )
    from storage.types import utcnow

    async def handle(request: web.Request) -> web.Response:
        query = request.query
        try:
            stamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
            check_timestamp(stamp, utcnow())
            check_signature(query.get("signature"), TOKEN, stamp, nonce)
            encrypted = str(parse_xml(await request.read()).get("Encrypt", ""))
            check_signature(query.get("msg_signature"), TOKEN, stamp, nonce, encrypted)
        except CallbackRejected as rejected:
            return web.Response(status=rejected.status)
        return web.Response(text="success")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/wechat", handle)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- targets -----------------------------------------------------------------------------------


@dataclass
class Target:
    """A server process under test."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Start and wait for /healthz."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.log.parent, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-2000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def service(name: str, database_url: str, work: Path, log_level: str) -> Target:
    """`complaintbot serve` on a database."""
    port = free_port()
    executable = Path(sys.executable).with_name("complaintbot")
    command = (
        [str(executable), "serve"]
        if executable.exists()
        else [sys.executable, "-m", "bot.cli", "serve"]
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": log_level,
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "SECRET_KEY": secrets.token_hex(24),
        "JIEBA_CACHE_DIR": str(work / "jieba"),
        "ATTACHMENTS_DIR": str(work / "attachments"),
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": "bench-secret",
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_ENCODING_AES_KEY": AES_KEY,
        # Nothing should go out; if something does, it fails fast on a closed port.
        "WECHAT_API_BASE_URL": f"http://127.0.0.1:{free_port()}/cgi-bin/",
    }
    return Target(name, command, env, port, work / f"{name}.log")


def bare(work: Path) -> Target:
    """The signature-only baseline."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    return Target("bare", command, env, port, work / "bare.log")


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    """A migrated private schema (dropped afterwards), or None when PostgreSQL is down."""
    from storage.engine import make_engine
    from storage.migrate import upgrade

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = make_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"postgresql: skipped ({type(exc).__name__}: PostgreSQL at {PG_URL} unreachable)")
        yield None
        return
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


async def measure(target: Target, args: argparse.Namespace) -> tuple[Result, Result]:
    """Warm up, then both phases."""
    await target.start()
    url = f"http://127.0.0.1:{target.port}/wechat"
    try:
        await closed_loop(url, len(SCRIPT) * 8, 8)  # jieba, caches, connections
        throughput = await closed_loop(url, args.messages, args.concurrency)
        await asyncio.sleep(1.0)
        fixed = await open_loop(url, args.rate, args.seconds)
    finally:
        target.stop()
    return throughput, fixed


def line(name: str, phase: str, result: Result) -> str:
    """One row of the report."""
    return (
        f"{name:<11} {phase:<12} {len(result.latencies):>6} {result.rate:>9.0f} "
        f"{result.percentile(50):>8.1f} {result.percentile(99):>8.1f} "
        f"{result.passive:>8} {result.success:>8} {result.errors:>6}"
    )


async def main_async(args: argparse.Namespace) -> int:
    """Run every target and print the table."""
    work = Path(tempfile.mkdtemp(prefix="cb-bench-intake-"))
    results: dict[str, tuple[Result, Result]] = {}
    try:
        results["bare"] = await measure(bare(work), args)
        from storage.engine import make_engine
        from storage.migrate import upgrade

        sqlite_url = f"sqlite:///{work / 'bench.sqlite3'}"
        engine = make_engine(sqlite_url)
        upgrade(engine)
        engine.dispose()
        results["sqlite"] = await measure(service("sqlite", sqlite_url, work, args.log_level), args)
        if not args.no_postgres:
            with postgres_schema() as pg_url:
                if pg_url is not None:
                    target = service("postgresql", pg_url, work, args.log_level)
                    results["postgresql"] = await measure(target, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nPOST /wechat, safe mode, loopback; {os.cpu_count()} CPUs; "
        f"LOG_LEVEL={args.log_level}; throughput: {args.concurrency} drivers in flight; "
        f"fixed rate: {args.rate:.0f}/s for {args.seconds:.0f} s"
    )
    columns = ("msgs", "msgs/s", "p50 ms", "p99 ms", "passive", "success", "errors")
    widths = (6, 9, 8, 8, 8, 8, 6)
    header = " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(f"{'target':<11} {'phase':<12} {header}")
    for name, (throughput, fixed) in results.items():
        print(line(name, "throughput", throughput))
        print(line(name, f"{args.rate:.0f}/s", fixed))
    base_rate = results["bare"][0].rate
    base_p99 = results["bare"][1].percentile(99)
    for name in ("sqlite", "postgresql"):
        if name not in results:
            continue
        throughput, fixed = results[name]
        p99 = fixed.percentile(99)
        rate_ok = "met" if throughput.rate >= TARGET_RATE else "not met"
        p99_ok = "met" if p99 < TARGET_P99_MS else "not met"
        print(
            f"{name}: {throughput.rate / base_rate:.1%} of the bare handler's msgs/s, "
            f"p99 at {args.rate:.0f}/s {p99 / base_p99:.0f}x the bare p99; "
            f"aim >= {TARGET_RATE:.0f}/s {rate_ok}; p99 < {TARGET_P99_MS:.0f} ms {p99_ok}"
        )
        answered = throughput.passive + fixed.passive
        total = len(throughput.latencies) + len(fixed.latencies)
        if answered < total / 2:
            # `success` means the 4 s budget ran out, or the push was not handled at all.
            print(f"  warning: only {answered}/{total} pushes got a passive answer; see its log")
    return 0


def main() -> int:
    """Parse arguments; `--serve-bare PORT` is the baseline server's own entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000, help="throughput phase size")
    parser.add_argument("--concurrency", type=int, default=32, help="drivers in flight")
    parser.add_argument("--rate", type=float, default=200.0, help="fixed-rate phase, msgs/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="fixed-rate phase length")
    parser.add_argument("--log-level", default="INFO", help="the services' LOG_LEVEL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite and bare only")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if args.messages > 20_000 or args.rate * args.seconds > 20_000:
        parser.error("keep runs bounded: at most 20,000 messages per phase")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
