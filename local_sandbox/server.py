"""The local sandbox's AWS: an in-process moto server on localhost, on a free port, always stopped.

In process (a ``ThreadedMotoServer`` thread) rather than a ``moto_server`` subprocess, because the emulation
in ``local_sandbox.emulation`` registers CloudFormation models with moto itself. The server listens on
``localhost`` only (moto 5.2 parses path-style template URLs only for that host name).
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
#: Credentials moto accepts; they are never valid anywhere else.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass(frozen=True)
class LocalAws:
    """Where the local AWS answers, and the environment that points AWS SDKs and the CDK CLI at it."""

    endpoint_url: str
    region: str = REGION
    account: str = ACCOUNT_ID

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) pointed at the local server, never at AWS.

        Every SDK (boto3, the CDK CLI's JavaScript SDK) reads ``AWS_ENDPOINT_URL``; the shared config and
        credentials files are hidden so that a developer's real profile cannot be picked up.
        """
        env = dict(os.environ if base is None else base)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            env.pop(name, None)
        env.update(CREDENTIALS)
        env.update(
            AWS_ENDPOINT_URL=self.endpoint_url,
            AWS_REGION=self.region,
            AWS_DEFAULT_REGION=self.region,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            CDK_DISABLE_CLI_TELEMETRY="true",
            NO_PROXY="localhost,127.0.0.1",
        )
        return env

    def client(self, service: str) -> object:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            config=Config(retries={"max_attempts": 3}, s3={"addressing_style": "path"}),
        )


class PortInUseError(RuntimeError):
    """The port asked for cannot be listened on (the message names it)."""


def check_port(port: int) -> None:
    """Raise ``PortInUseError`` unless the server can listen on ``localhost:port`` now (0: always true).

    Bound as the server binds (``SO_REUSEADDR``, so a port in TIME_WAIT counts as free), then released."""
    import errno
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("localhost", port))
        except OSError as exc:
            reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise PortInUseError(f"port {port} on localhost: {reason}") from None


def _start(server: Any, port: int, timeout: float = 30.0) -> None:
    """``server.start()``, bounded: moto binds in its server thread and, if the bind fails there (another
    process took the port since ``check_port``), waits for ever for a server that will never be ready."""
    import threading

    starting = threading.Thread(target=server.start, daemon=True)
    starting.start()
    deadline = time.monotonic() + timeout
    while starting.is_alive() and time.monotonic() < deadline:
        starting.join(0.05)
        serving = getattr(server, "_thread", None)  # moto's server thread: it ends at once if the bind failed
        if serving is not None and not serving.is_alive() and starting.is_alive():
            break
    if starting.is_alive():
        raise PortInUseError(f"port {port} on localhost: the server could not listen on it")


@contextlib.contextmanager
def local_aws(port: int = 0) -> Iterator[LocalAws]:
    """Start moto on ``localhost:port`` (0: a free port chosen by the OS) with the emulation installed.

    A port that cannot be listened on raises ``PortInUseError`` at once. The server is stopped when the block
    exits, whatever the reason (an error, Ctrl-C, SystemExit).
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise

    from local_sandbox import emulation

    check_port(port)
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    _start(server, port)
    try:
        _, bound = server.get_host_and_port()
        aws = LocalAws(endpoint_url=f"http://localhost:{bound}")
        # moto's state is per process, not per server: start from an empty account whatever ran before
        urllib.request.urlopen(urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST"), timeout=10)
        emulation.install(aws.endpoint_url)
        try:
            yield aws
        finally:
            # the server first, and the requests it is still answering (an interrupted CLI's last call): the
            # emulation must outlive them, or they fail in the server's threads with a traceback
            _stop(server)
            emulation.uninstall()
    finally:
        _stop(server)


def _stop(server: Any, timeout: float = 10.0) -> None:
    """Stop accepting requests, then wait (bounded) for those in flight (werkzeug answers each in a thread)."""
    import threading

    if getattr(server, "_stopped_by_sandbox", False):
        return
    server._stopped_by_sandbox = True
    server.stop()
    wsgi = getattr(server, "_server", None)  # moto's werkzeug server: its request threads target its methods
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if getattr(getattr(thread, "_target", None), "__self__", None) is wsgi and wsgi is not None:
            thread.join(max(0.0, deadline - time.monotonic()))


def is_listening(endpoint_url: str) -> bool:
    """Whether something accepts connections at ``endpoint_url`` (used by the tests to prove the stop)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(endpoint_url)
    with contextlib.suppress(OSError), socket.create_connection((parsed.hostname, parsed.port), timeout=1):
        return True
    return False


__all__ = ["ACCOUNT_ID", "REGION", "LocalAws", "PortInUseError", "check_port", "is_listening", "local_aws"]
