"""`python -m review alerts`: the stack's Prometheus alert rules, rendered offline from the topology."""

from __future__ import annotations

import yaml

from topology.model import Topology
from topology.monitoring import alert_rules


def render_alerts(topology: Topology) -> str:
    """The rules file: `promtool check rules` accepts it; mount it in Prometheus' `rule_files`."""
    header = (
        f"# Prometheus alert rules of the EnGarde stack {topology.stack!r}, rendered from its topology by\n"
        f"# `python -m review alerts --stack {topology.stack}`. Scrape each PostgreSQL exporter as job\n"
        "# `<service name>` and the backup jobs' metrics/*.prom with node_exporter's textfile collector.\n"
    )
    return header + yaml.safe_dump(alert_rules(topology), sort_keys=False, width=200)
