"""Where the scenarios shipped with netconform are: packaged with it, or ``suites/`` of a checkout.

pyproject.toml packs ``suites/*.yaml`` as the data of ``netconform.suites``, so an installed
netconform has them in ``netconform/suites/`` next to this module. In a checkout (the editable
install maps netconform to ``helpers/``) they are the checkout's own ``suites/``, so edits to a
scenario take effect without reinstalling. A path, not ``importlib.resources``: the editable
install's import hook does not serve a folder without Python in it.
"""

from __future__ import annotations

from pathlib import Path

from netconform.errors import NetconformError

_PACKAGE = Path(__file__).resolve().parent.parent  # the netconform package (helpers/ in a checkout)


def suites_dir() -> Path:
    """The directory of the shipped scenario files.

    Raises:
        NetconformError: neither the packaged copy nor a checkout's ``suites/`` exists.
    """
    for candidate in (_PACKAGE / "suites", _PACKAGE.parent / "suites"):
        if candidate.is_dir():
            return candidate
    raise NetconformError(f"the shipped scenarios are missing: neither {_PACKAGE / 'suites'} nor "
                          f"{_PACKAGE.parent / 'suites'} exists; reinstall netconform")


def shipped_scenarios() -> list[Path]:
    """The shipped scenario files, sorted by name."""
    return sorted(suites_dir().glob("*.yaml"))


def swarm_suites_dir() -> Path:
    """The directory of the shipped Swarm scenarios (``swarm/`` of a checkout when not installed).

    They run on a lab swarm (``netconform swarm run``), never on the daemon ``pytest suites`` tests,
    so they live apart from ``suites/``.

    Raises:
        NetconformError: neither the packaged copy nor a checkout's ``swarm/`` exists.
    """
    for candidate in (_PACKAGE / "swarm_suites", _PACKAGE.parent / "swarm"):
        if candidate.is_dir():
            return candidate
    raise NetconformError(f"the shipped Swarm scenarios are missing: neither {_PACKAGE / 'swarm_suites'} nor "
                          f"{_PACKAGE.parent / 'swarm'} exists; reinstall netconform")


def profiles_dir() -> Path:
    """The directory of the shipped host profiles (``profiles/`` of a checkout when not installed)."""
    for candidate in (_PACKAGE / "profiles", _PACKAGE.parent / "profiles"):
        if candidate.is_dir():
            return candidate
    raise NetconformError(f"the shipped profiles are missing: neither {_PACKAGE / 'profiles'} nor "
                          f"{_PACKAGE.parent / 'profiles'} exists; reinstall netconform")


def find_profile(text: str) -> Path:
    """``--profile`` as given: a file, or the name of a shipped profile (``docker-defaults``).

    Raises:
        NetconformError: neither a file nor a shipped profile of that name (the message lists them).
    """
    path = Path(text)
    if path.is_file():
        return path.absolute()
    shipped = profiles_dir() / f"{text}.yaml"
    if "/" not in text and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.yaml")))
    raise NetconformError(f"--profile {text}: no such file, nor a shipped profile (shipped: {names})")
