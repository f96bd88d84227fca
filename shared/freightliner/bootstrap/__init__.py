"""The composition root, one factory per runtime: the only place that picks concrete adapters.

- `lambda_root`: what the Lambda handlers need (functions/*/app.py).
- `cloud_function_root`: what the Google Cloud Function needs (functions/on_gar_push/main.py).
- `cli_root`: what the `freightliner` commands need.

`registry_clients` (registry clients, credential providers, repository admins and scanners per
host) and `aws_session` (where AWS credentials come from) are shared by all three. Every piece
is built on first use and cached while the process (or a warm function) lives: importing a
factory reads no configuration, builds no client and loads no cloud SDK.
"""
