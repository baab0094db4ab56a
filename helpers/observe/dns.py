"""DNS questions asked from inside a network namespace, as a resolver there would ask them.

:func:`ask` runs in a child that joined the container's network namespace; it sends the query
straight to one nameserver (the container's first), so what is observed is that server's answer,
not the host's resolver or a cache. Timeouts are retried a bounded number of times and every
attempt is counted in the result.
"""

from __future__ import annotations

import errno
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename

from netconform.facts import LookupResult

_NETWORK_ERRORS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED}


def ask(server: str, name: str, qtype: str = "A", timeout: float = 2.0, attempts: int = 3) -> LookupResult:
    """Ask ``server`` for ``name``/``qtype`` over UDP (TCP if truncated); call inside the netns.

    ``name`` is asked as given, made absolute: no search list is applied, so a short name is what
    the embedded DNS server resolves for containers (their names, aliases, hostnames).
    For ``PTR`` the name is an address, turned into its reverse name.
    """
    qname = dns.reversename.from_address(name) if qtype == "PTR" else dns.name.from_text(name)
    query = dns.message.make_query(qname, dns.rdatatype.from_text(qtype))
    started = time.monotonic()
    detail = ""
    for attempt in range(1, attempts + 1):
        try:
            response, _ = dns.query.udp_with_fallback(query, server, timeout=timeout)
        except dns.exception.Timeout:
            detail = f"no answer in {timeout:g}s"
            continue
        except OSError as err:
            # No route or an ICMP error says something about the network; anything else (EPERM...)
            # is the prober failing, which judges nothing.
            rcode = "unreachable" if err.errno in _NETWORK_ERRORS else "error"
            return LookupResult(qtype, name, server, rcode, [], attempt, time.monotonic() - started,
                                err.strerror or str(err))
        except dns.exception.DNSException as err:
            return LookupResult(qtype, name, server, "error", [], attempt, time.monotonic() - started, str(err))
        answers = [
            item.to_text() for rrset in response.answer if rrset.rdtype == query.question[0].rdtype for item in rrset
        ]
        return LookupResult(qtype, name, server, dns.rcode.to_text(response.rcode()), answers, attempt,
                            time.monotonic() - started)
    return LookupResult(qtype, name, server, "timeout", [], attempts, time.monotonic() - started, detail)
