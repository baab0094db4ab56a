"""Under xdist, scenario files go to workers in groups of consecutive files (so a worker can build
the rest of its group ahead); every check of a file is in its file's group, and a run with few
files still gives every worker a group."""

from __future__ import annotations

from netconform.harness.xdist_groups import file_groups

NODEIDS = [f"suites/s{index}.yaml::{subject}::check" for index in range(10) for subject in ("a", "b")]


def test_consecutive_files_share_a_group_of_the_given_size() -> None:
    groups = file_groups(NODEIDS, 4, 2)
    assert len(groups) == 10
    members: dict[str, list[str]] = {}
    for file, group in groups.items():
        members.setdefault(group, []).append(file)
    assert list(members.values()) == [[f"suites/s{index}.yaml" for index in range(start, min(start + 4, 10))]
                                      for start in (0, 4, 8)]


def test_few_files_are_shared_out_so_that_every_worker_gets_some() -> None:
    three = NODEIDS[:6]
    assert len(set(file_groups(three, 4, 2).values())) == 2
    assert len(set(file_groups(three, 4, 3).values())) == 3


def test_size_one_is_a_file_at_a_time() -> None:
    assert len(set(file_groups(NODEIDS, 1, 2).values())) == 10
