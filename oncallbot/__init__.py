"""oncallbot: an on-call rotation and paging bot that keeps a support team's written procedure."""

__version__ = "0.1.0"
