"""Reading the declared side of a scenario record (``declared``), as the spec model wrote it.

Values in a declared spec may be references (``{"parts": [...]}``) or templates
(``{"pieces": [...]}``) after :func:`netconform.report.records.as_json`; these functions show them as
the YAML author wrote them (``${container.web.ip}``), the way the spec model's ``str`` does.
"""

from __future__ import annotations

from typing import Any


def value_text(value: Any) -> str:
    """A declared value as text: literals as is, references as ``${a.b}``, lists comma-separated."""
    if value is None:
        return ""
    if isinstance(value, dict):
        if "parts" in value:
            return "${" + ".".join(str(part) for part in value["parts"]) + "}"
        if "pieces" in value:
            return "".join(value_text(piece) for piece in value["pieces"])
        return ", ".join(f"{key}={value_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value)
    return str(value)


def probe_id(reach: dict[str, Any]) -> str:
    """The id of a declared probe, as ``netconform.spec.model.ReachSpec.id`` makes it."""
    if reach.get("label"):
        return str(reach["label"])
    address = reach.get("address")
    where = f" {value_text(address)}" if address is not None else ""
    port = f"/{reach['port']}" if reach.get("port") is not None else ""
    return f"{reach['frm']}->{reach['to']}{where} {reach['proto']}{port}"
