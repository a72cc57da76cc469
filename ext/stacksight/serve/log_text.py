"""Make client-controlled text safe to print on the operator's terminal.

Request paths, header values and tags reach the server log; raw control
characters in them could move the cursor, rewrite earlier lines or change
the terminal's settings.  Every control character (C0, DEL, C1, the Unicode
line separators) and the backslash itself are shown as escapes instead, so
an escape in the log can always be told from one the client sent.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\\\\\u2028\u2029]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_for_log(text: str) -> str:
    return _UNSAFE.sub(_escape, text)
