"""The fixtures seen from a user's test file: bad input is one line, as for a bad YAML file."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "netconform", "-p", "no:cacheprovider", *args, timeout=300)


def test_a_bad_inline_scenario_fails_the_test_with_the_spec_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent("""\
        def test_web(netconform_scenario):
            lan = netconform_scenario({
                "containers": {"web": {"netwrk": "bridge"}},
            })
    """))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*invalid scenario spec: test_user.py:2: containers.web.netwrk: unknown key, did you mean 'network'? "
        "(inline scenario inline) "
        "(allowed: network, networks, *",
    ])
    assert "Traceback" not in result.stdout.str()


def test_the_mode_fixture_says_how_to_parametrize_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent("""\
        import pytest

        def test_plain(netconform_container):
            pass

        @pytest.mark.parametrize("netconform_container", ["bridged"], indirect=True)
        def test_typo(netconform_container):
            pass
    """))
    result = run(pytester)
    result.assert_outcomes(errors=2)
    lines = result.stdout.lines
    assert 'netconform_container needs a mode: @pytest.mark.parametrize("netconform_container", ' \
        "['bridge', 'host', 'none', 'container', 'custom'], indirect=True)" in lines
    assert "netconform_container: unknown network mode 'bridged'; one of: bridge, host, none, container, custom" \
        in lines


def test_the_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--fixtures")
    result.stdout.fnmatch_lines(["netconform_scenario*", "*Build a scenario*"])
    for name in ("netconform_container", "netconform_bridge", "netconform_host", "netconform_none",
                 "netconform_joiner", "netconform_custom"):
        assert name in result.stdout.str()
