"""EnGarde data plane: stack config -> topology -> components -> stack outputs."""

import pulumi

from components.stack import deploy
from topology import ConfigError, load_topology
from topology.config import NAMESPACE, ignored_settings, unencrypted_warnings


def stack_config() -> dict[str, object]:
    """Every `engarde:` config value, as the Pulumi engine passes them to the program."""
    values = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    prefix = NAMESPACE + ":"
    return {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}


try:
    topology = load_topology(stack_config(), pulumi.get_stack())
except ConfigError as error:
    # One line naming the key, before any resource is registered.
    raise pulumi.RunError(str(error)) from None
for notice in (*ignored_settings(stack_config()), *unencrypted_warnings(stack_config())):
    pulumi.log.warn(notice)

config = pulumi.Config(NAMESPACE)
admin_passwords = {server: config.require_secret(key) for server, key in topology.admin_password_keys.items()}
for output_name, value in deploy(topology, admin_passwords).items():
    pulumi.export(output_name, value)
