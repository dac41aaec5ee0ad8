"""EnGarde data plane: stack config -> topology -> components -> stack outputs."""

import pulumi

from components.debug_logs import send_debug_messages_without_waiting
from components.previous_outputs import deployed_outputs
from components.stack import deploy
from components.stack_traces import keep_registering_frames_only
from topology import ConfigError, load_topology
from topology.config import NAMESPACE, ConfigOrigin, config_notices

PREFIX = NAMESPACE + ":"


def all_config() -> dict[str, object]:
    """Every config value of every namespace, as the Pulumi engine passes them to the program."""
    return {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}


def stack_config() -> dict[str, object]:
    """Every `engarde:` config value, namespace stripped."""
    return {key[len(PREFIX) :]: value for key, value in all_config().items() if key.startswith(PREFIX)}


def config_origin() -> ConfigOrigin:
    """Which `engarde:` keys were given as secrets, and the keys of the other namespaces."""
    keys = all_config()
    secret = {*pulumi.runtime.get_config_secret_keys_env(), *filter(pulumi.runtime.is_config_secret, keys)}
    return ConfigOrigin(
        secret_keys=frozenset(key[len(PREFIX) :] for key in secret if key.startswith(PREFIX)),
        other_keys=frozenset(key for key in keys if not key.startswith(PREFIX)),
    )


keep_registering_frames_only()
send_debug_messages_without_waiting()
raw_config = stack_config()
try:
    topology = load_topology(raw_config, pulumi.get_stack(), config_origin(), deployed_outputs())
except ConfigError as error:
    # One line naming the key, before any resource is registered.
    raise pulumi.RunError(str(error)) from None
for notice in [*config_notices(raw_config), *topology.notices]:
    pulumi.log.warn(notice)

config = pulumi.Config(NAMESPACE)
admin_passwords = {server: config.require_secret(key) for server, key in topology.admin_password_keys.items()}
for output_name, value in deploy(topology, admin_passwords).items():
    pulumi.export(output_name, value)
