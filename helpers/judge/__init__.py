"""Facts x expectations -> verdicts with expected, observed and the evidence they were judged on."""

from netconform.judge.verdict import Verdict, judge, observed_value

__all__ = ["Verdict", "judge", "observed_value"]
