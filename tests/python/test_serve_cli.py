"""``python -m stacksight.serve`` / ``stacksight.serve.main``: flags, the
startup line, the warning for non-loopback binding and clean shutdown."""

from __future__ import annotations

import signal

from serve_helpers.server import start_serve_process
from serve_helpers.uploads import get_json, upload
from stacksight import serve
from stacksight.serve.config import default_db_path, parse_args


def test_defaults_and_flags():
    config = parse_args([])
    assert (config.host, config.port) == ("127.0.0.1", 8126)
    assert config.db_path == default_db_path() and config.db_path.endswith("stacksight/profiles.db")
    assert config.max_body_bytes == 64 * 1024 * 1024
    config = parse_args(["--host", "0.0.0.0", "--port", "9000", "--db", "x.db", "--retention-hours", "1.5",
                         "--max-db-mb", "10", "--max-body-mb", "2", "--max-parts", "4"])
    assert (config.host, config.port, config.db_path, config.retention_hours, config.max_db_mb,
            config.max_body_bytes, config.max_parts) == ("0.0.0.0", 9000, "x.db", 1.5, 10.0, 2 * 1024 * 1024, 4)
    assert not config.is_loopback()
    assert callable(serve.main)


def test_module_runs_serves_and_stops_on_sigterm(tmp_path):
    process, url = start_serve_process(["--port", "0", "--db", str(tmp_path / "p.db"), "--quiet"])
    try:
        upload(url, {"service": "cli-test"})
        assert get_json(url + "/api/profiles")["profiles"][0]["service"] == "cli-test"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        process.stdout.close()
        process.stderr.close()


def test_non_loopback_binding_warns(tmp_path):
    process, url = start_serve_process(["--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "p.db")])
    try:
        assert get_json(url + "/info")["endpoints"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        warning = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
    assert "WARNING" in warning and "0.0.0.0" in warning
