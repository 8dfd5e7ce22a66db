"""Slack listeners by feature. Each module has a small dataclass of what it needs and `register(app, deps)`."""
