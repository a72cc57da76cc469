"""Settings of ``stacksight serve`` and the command-line flags that set them."""

from __future__ import annotations

import argparse
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

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MIB)

    @property
    def max_db_bytes(self) -> int:
        return int(self.max_db_mb * MIB)

    @property
    def max_decompressed_bytes(self) -> int:
        # Profiles compress roughly 5-10x; allow that and then some.
        return max(256 * MIB, 8 * self.max_body_bytes)

    def is_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")


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
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser


def parse_args(argv: list[str]) -> ServeConfig:
    args = build_parser().parse_args(argv)
    return ServeConfig(**vars(args))
