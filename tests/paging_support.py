"""TEMPORARY: the old name of part of tests/harness/, for tests written on branches that predate it; removed once
they are merged. New tests import from tests.harness."""

from tests.harness.pager import *  # noqa: F403
