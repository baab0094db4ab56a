"""Self-contained HTML report (placeholder until the full renderer lands)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any


def write_html(document: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = html.escape(json.dumps(document["summary"], indent=1))
    path.write_text(f"<!doctype html><meta charset=utf-8><title>netconform</title><pre>{body}</pre>\n")
    return path
