"""The providers' SQL model: what each database resource runs on create, update, delete (`lifecycle`,
with one module per provider resource family, each naming the upstream files it follows) and
refresh (`refresh`). The model's API is exported here."""

from review.providers.core import (
    SecretStyle,
    ServerContext,
    SqlStep,
    UnsupportedResourceError,
    password_input,
    password_owner,
    secret_variable,
    set_order,
)
from review.providers.lifecycle import (
    create_steps,
    delete_steps,
    has_update,
    inputs_of,
    password_resources,
    replace_keys,
    runs_sql,
    server_context,
    update_steps,
    with_secrets,
)

__all__ = [
    "SecretStyle",
    "ServerContext",
    "SqlStep",
    "UnsupportedResourceError",
    "create_steps",
    "delete_steps",
    "has_update",
    "inputs_of",
    "password_input",
    "password_owner",
    "password_resources",
    "replace_keys",
    "runs_sql",
    "secret_variable",
    "server_context",
    "set_order",
    "update_steps",
    "with_secrets",
]
