"""Settings of ``stacksight serve`` and the command-line flags that set them."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
from dataclasses import dataclass, field

MIB = 1024 * 1024


def default_db_path() -> str:
    """Under the XDG data directory, so running the command from anywhere
    finds the same profiles and never litters the current directory."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "stacksight", "profiles.db")


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8126
    db_path: str = field(default_factory=default_db_path)
    retention_hours: float = 72.0
    max_db_mb: float = 1024.0
    max_body_mb: float = 64.0
    max_parts: int = 32
    retention_check_seconds: float = 60.0
    quiet: bool = False
    # Decoded bytes of all attachments of one upload (a small zip bomb stops here).
    max_decoded_mb: float = 64.0
    # Connections served at once; more are answered 503 and closed.
    max_connections: int = 64
    # Request bodies held in memory by all connections together.
    max_inflight_mb: float = 512.0
    # Extra names accepted in the Host header (besides the served address).
    allow_hosts: list[str] = field(default_factory=list)

    def __post_init__(self):
        for name, low, high in NUMERIC_BOUNDS:
            check_number(name, getattr(self, name), low, high)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MIB)

    @property
    def max_db_bytes(self) -> int:
        return int(self.max_db_mb * MIB)

    @property
    def max_decompressed_bytes(self) -> int:
        return int(self.max_decoded_mb * MIB)

    @property
    def max_inflight_bytes(self) -> int:
        return int(self.max_inflight_mb * MIB)

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


# (field, lowest, highest): values outside, inf and nan are refused at start.
NUMERIC_BOUNDS = (
    ("port", 0, 65535),
    ("retention_hours", 1e-6, 876_000),  # 100 years
    ("max_db_mb", 0.001, 1 << 30),
    ("max_body_mb", 0.01, 4096),
    ("max_parts", 1, 10_000),
    ("retention_check_seconds", 0.01, 86_400),
    ("max_decoded_mb", 0.01, 65_536),
    ("max_connections", 1, 10_000),
    ("max_inflight_mb", 1, 1 << 20),
)


def check_number(name: str, value, low, high) -> None:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{flag} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{flag} must be between {low} and {high}, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    defaults = ServeConfig()
    parser = argparse.ArgumentParser(
        prog="stacksight serve",
        description="Receive profiles like a Datadog agent (POST /profiling/v1/input) and browse "
                    "them in a local Search Profiles explorer.")
    parser.add_argument("--host", default=defaults.host,
                        help="address to listen on (default %(default)s; use 0.0.0.0 to accept "
                             "uploads from other machines - there is no authentication)")
    parser.add_argument("--port", type=int, default=defaults.port,
                        help="TCP port (default %(default)s, the agent's; 0 picks a free port)")
    parser.add_argument("--db", dest="db_path", default=defaults.db_path,
                        help="SQLite file holding the profiles (default %(default)s)")
    parser.add_argument("--retention-hours", type=float, default=defaults.retention_hours,
                        help="delete profiles received longer ago than this (default %(default)s)")
    parser.add_argument("--max-db-mb", type=float, default=defaults.max_db_mb,
                        help="delete the oldest profiles while stored uploads exceed this many MiB "
                             "(default %(default)s)")
    parser.add_argument("--max-body-mb", type=float, default=defaults.max_body_mb,
                        help="reject uploads larger than this many MiB (default %(default)s)")
    parser.add_argument("--max-parts", type=int, default=defaults.max_parts,
                        help="reject uploads with more multipart parts (default %(default)s)")
    parser.add_argument("--retention-check-seconds", type=float, default=defaults.retention_check_seconds,
                        help="how often age-based retention runs (default %(default)s)")
    parser.add_argument("--max-decoded-mb", type=float, default=defaults.max_decoded_mb,
                        help="reject uploads whose attachments decompress to more than this many MiB "
                             "(default %(default)s)")
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections,
                        help="connections served at once; more get 503 (default %(default)s)")
    parser.add_argument("--max-inflight-mb", type=float, default=defaults.max_inflight_mb,
                        help="request bodies held in memory by all connections together "
                             "(default %(default)s)")
    parser.add_argument("--allow-host", dest="allow_hosts", action="append", default=[],
                        help="accept this name in the Host header too (repeatable; by default only "
                             "the served address and, on loopback, localhost)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request (refusals are "
                                                             "always logged)")
    return parser


def parse_args(argv: list[str]) -> ServeConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return ServeConfig(**vars(args))
    except ValueError as error:
        parser.error(str(error))  # exits 2 with the usage line
