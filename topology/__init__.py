"""The layout as plain typed Python: config parsing, validation and the derived topology."""

from topology.layout import build_topology, load_topology
from topology.model import Topology
from topology.names import ConfigError

__all__ = ["ConfigError", "Topology", "build_topology", "load_topology"]
