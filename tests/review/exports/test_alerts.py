"""The alert rules file: `promtool check rules` accepts it, and `promtool test rules` shows each rule
firing on series that should fire it and silent on series that should not."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from review.__main__ import main as review_main
from review.capture.program import Capture
from tests.prerequisites import missing_prerequisite
from topology import load_topology

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
GIB = 1024**3

# Every PostgreSQL login a service of the dev stack is handed, with the exporter job that sees it.
DEV_LOGINS = [
    *[
        ("main", "postgres-exporter", role)
        for role in [
            "engarde_app",
            "madansara_user",
            "sankore_user",
            "onside_user",
            "capilytics_user",
            "langflow_reader",
            "analytics_readonly",
            "audit_user",
            "engarde_monitor",
            "engarde_backup",
        ]
    ],
    *[
        ("flowdb", "postgres-exporter-flowdb", role)
        for role in [
            "engarde_flow_reader",
            "langflow_app",
            "audit_user",
            "engarde_monitor",
            "engarde_backup",
        ]
    ],
]


DEV_LIMITS = {(role.server, role.name): role.connection_limit for role in load_topology({}, "dev").roles if role.login}
"""(server, login) -> its CONNECTION LIMIT in the dev stack (`connectionLimits` defaults)."""


def near_limit(server: str, role: str) -> int:
    """The fewest connections that are 80% of the login's limit."""
    return math.ceil(DEV_LIMITS[(server, role)] * 0.8)


def alerts_of(stack: str, *sets: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    argv = ["alerts", "--stack", stack, *(arg for value in sets for arg in ("--set", value))]
    assert review_main(argv, out, err) == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def promtool() -> str:
    if not Path(PROMTOOL).exists():
        missing_prerequisite("promtool, from the Debian package prometheus (the alert rule tests)")
    return PROMTOOL


def run_promtool(
    promtool: str, tmp_path: Path, rules: str, tests: list[dict[str, Any]], evaluation_interval: str = "1m"
) -> None:
    (tmp_path / "rules.yml").write_text(rules)
    checked = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": evaluation_interval, "tests": tests})
    )
    tested = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def connection_alert(server: str, role: str, job: str, value: int) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "warning", "server": server, "role": role, "job": job},
        "exp_annotations": {
            "summary": f"{role} on {server} is near its connection limit",
            "description": f"{role} holds {value} of its {DEV_LIMITS[(server, role)]} connections on {server}.",
        },
    }


def connections(below: int) -> list[dict[str, str]]:
    """Each login at `below` connections under its alert threshold."""
    return [
        {
            "series": f'engarde_role_connections_in_use{{job="{job}", role="{role}"}}',
            "values": f"{near_limit(server, role) - below}x20",
        }
        for server, job, role in DEV_LOGINS
    ]


def test_every_service_login_has_a_connection_rule_at_80_percent_of_its_limit(promtool: str, tmp_path: Path) -> None:
    rules = alerts_of("dev")
    assert {(server, role) for server, _job, role in DEV_LOGINS} == set(DEV_LIMITS)
    every_login_near = [
        connection_alert(server, role, job, near_limit(server, role)) for server, job, role in DEV_LOGINS
    ]
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": connections(below=0),
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "EngardeConnectionsNearLimit", "exp_alerts": []},  # for: 5m
                {"eval_time": "10m", "alertname": "EngardeConnectionsNearLimit", "exp_alerts": every_login_near},
            ],
        },
        {
            "interval": "1m",
            "input_series": connections(below=1),
            "alert_rule_test": [{"eval_time": "10m", "alertname": "EngardeConnectionsNearLimit", "exp_alerts": []}],
        },
        {
            # audit_user is on both servers: only the server whose exporter reports the use alerts.
            "interval": "1m",
            "input_series": [
                {
                    "series": 'engarde_role_connections_in_use{job="postgres-exporter", role="audit_user"}',
                    "values": f"{near_limit('main', 'audit_user')}x20",
                },
                {
                    "series": 'engarde_role_connections_in_use{job="postgres-exporter-flowdb", role="audit_user"}',
                    "values": f"{near_limit('flowdb', 'audit_user') - 1}x20",
                },
                {
                    "series": 'engarde_role_connections_in_use{job="postgres-exporter", role="not_a_service"}',
                    "values": "99x20",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "10m",
                    "alertname": "EngardeConnectionsNearLimit",
                    "exp_alerts": [
                        connection_alert("main", "audit_user", "postgres-exporter", near_limit("main", "audit_user"))
                    ],
                }
            ],
        },
    ]
    run_promtool(promtool, tmp_path, rules, tests)


def test_exporter_down_absent_and_database_unreachable(promtool: str, tmp_path: Path) -> None:
    def down(server: str, job: str) -> dict[str, Any]:
        return {
            "exp_labels": {"severity": "critical", "server": server, "job": job},
            "exp_annotations": {"summary": f"{job} is not scraped: {server} is not monitored"},
        }

    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                {"series": 'up{job="postgres-exporter", instance="main:9187"}', "values": "0x20"},
                {"series": 'up{job="postgres-exporter-flowdb", instance="flowdb:9187"}', "values": "1x20"},
                {"series": 'pg_up{job="postgres-exporter-flowdb", instance="flowdb:9187"}', "values": "0x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "EngardeExporterDown", "exp_alerts": []},
                {
                    "eval_time": "10m",
                    "alertname": "EngardeExporterDown",
                    "exp_alerts": [
                        {
                            **down("main", "postgres-exporter"),
                            "exp_labels": {**down("main", "postgres-exporter")["exp_labels"], "instance": "main:9187"},
                        },
                    ],
                },
                {
                    "eval_time": "10m",
                    "alertname": "EngardeDatabaseUnreachable",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "severity": "critical",
                                "server": "flowdb",
                                "job": "postgres-exporter-flowdb",
                                "instance": "flowdb:9187",
                            },
                            "exp_annotations": {
                                "summary": "postgres-exporter-flowdb cannot connect to flowdb as engarde_monitor"
                            },
                        }
                    ],
                },
            ],
        },
        {
            # flowdb's exporter was never scraped at all.
            "interval": "1m",
            "input_series": [
                {"series": 'up{job="postgres-exporter", instance="main:9187"}', "values": "1x20"},
                {"series": 'pg_up{job="postgres-exporter", instance="main:9187"}', "values": "1x20"},
            ],
            "alert_rule_test": [
                {
                    "eval_time": "10m",
                    "alertname": "EngardeExporterDown",
                    "exp_alerts": [down("flowdb", "postgres-exporter-flowdb")],
                },
                {"eval_time": "10m", "alertname": "EngardeDatabaseUnreachable", "exp_alerts": []},
            ],
        },
    ]
    run_promtool(promtool, tmp_path, alerts_of("dev"), tests)


def test_backup_older_than_its_schedule_allows(promtool: str, tmp_path: Path) -> None:
    # schedule 6h: late after 9h. promtool's clock starts at 0, so a timestamp is an age to subtract.
    rules = alerts_of("dev", "backups.schedule=6h")

    def late(server: str, tool: str) -> dict[str, Any]:
        return {
            "exp_labels": {"severity": "critical", "server": server, "database": server},
            "exp_annotations": {
                "summary": f"the newest {server} backup is older than 9h",
                "description": f"backup-{server} ({tool}) runs every 6h; read its container log.",
            },
        }

    tests: list[dict[str, Any]] = [
        {
            "interval": "5m",
            "input_series": [
                # main last succeeded at 0h; flowdb at 1h, then again at 7h; scheduler never reports.
                {"series": 'engarde_backup_last_success_timestamp_seconds{database="main"}', "values": "0x200"},
                {
                    "series": 'engarde_backup_last_success_timestamp_seconds{database="flowdb"}',
                    "values": "3600x84 25200x100",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "8h50m", "alertname": "EngardeBackupTooOld", "exp_alerts": []},
                {"eval_time": "9h10m", "alertname": "EngardeBackupTooOld", "exp_alerts": [late("main", "pg_dump")]},
                {"eval_time": "13h", "alertname": "EngardeBackupTooOld", "exp_alerts": [late("main", "pg_dump")]},
                {"eval_time": "8h50m", "alertname": "EngardeBackupMissing", "exp_alerts": []},
                {
                    "eval_time": "9h10m",
                    "alertname": "EngardeBackupMissing",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "critical", "server": "scheduler", "database": "scheduler"},
                            "exp_annotations": {"summary": "no scheduler backup has reported success"},
                        }
                    ],
                },
            ],
        },
    ]
    run_promtool(promtool, tmp_path, rules, tests, evaluation_interval="10m")


def test_database_growing_fast(promtool: str, tmp_path: Path) -> None:
    def size(job: str, database: str, values: str) -> dict[str, str]:
        return {"series": f'pg_database_size_bytes{{job="{job}", datname="{database}"}}', "values": values}

    tests: list[dict[str, Any]] = [
        {
            "interval": "5m",
            "input_series": [
                # main: 2 GiB for a day, then 3 GiB (+50%); flowdb: 100 MiB -> 300 MiB (+200%, but small).
                size("postgres-exporter", "engarde", f"{2 * GIB}x288 {3 * GIB}x36"),
                size("postgres-exporter-flowdb", "langflow", f"{100 * 1024**2}x288 {300 * 1024**2}x36"),
                # another database on main's exporter is not the stack's
                size("postgres-exporter", "postgres", f"{2 * GIB}x288 {4 * GIB}x36"),
            ],
            "alert_rule_test": [
                {"eval_time": "1d30m", "alertname": "EngardeDatabaseGrowingFast", "exp_alerts": []},  # for: 1h
                {
                    "eval_time": "1d2h",
                    "alertname": "EngardeDatabaseGrowingFast",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "severity": "warning",
                                "server": "main",
                                "job": "postgres-exporter",
                                "datname": "engarde",
                            },
                            "exp_annotations": {
                                "summary": "engarde on main grew by more than 20% in a day",
                                "description": "Now 3GiB; check the per-schema sizes (engarde_schema_size_bytes)"
                                " and the disk.",
                            },
                        }
                    ],
                },
            ],
        },
        {
            "interval": "5m",
            "input_series": [size("postgres-exporter", "engarde", f"{2 * GIB}+{GIB // 2000}x400")],  # +7%/day
            "alert_rule_test": [{"eval_time": "1d6h", "alertname": "EngardeDatabaseGrowingFast", "exp_alerts": []}],
        },
    ]
    run_promtool(promtool, tmp_path, alerts_of("dev"), tests, evaluation_interval="10m")


def test_rules_follow_the_topology() -> None:
    shared = yaml.safe_load(alerts_of("dev", "langflowPlacement=shared"))
    jobs = {rule["labels"]["server"] for group in shared["groups"] for rule in group["rules"]}
    assert jobs == {"main", "scheduler"}  # no flowdb in shared placement
    billing = yaml.safe_load(alerts_of("dev", "services.billing.image=ghcr.io/engardehq/billing:1.0.0"))
    roles = {rule["labels"].get("role") for group in billing["groups"] for rule in group["rules"]}
    assert "billing_user" in roles


def test_a_bad_schedule_exits_2_naming_the_key() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert review_main(["alerts", "--stack", "dev", "--set", "backups.schedule=daily"], out, err) == 2
    assert err.getvalue().startswith("engarde:backups.schedule: ") and out.getvalue() == ""


def test_the_stack_exports_the_same_rules_for_prometheus_to_mount(prod: Capture) -> None:
    exported = prod.outputs["alertRules"]
    assert isinstance(exported, str)
    assert yaml.safe_load(exported) == yaml.safe_load(alerts_of("prod"))


REPLICA_JOB = "postgres-exporter-main-replica-1"
SLOT = "engarde_main_replica_1"


def replication_alert(alertname: str, severity: str, summary: str, description: str, **labels: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, "server": "main", "replica": "main-replica-1", **labels},
        "exp_annotations": {"summary": summary, "description": description},
    }


def test_replication_rules_fire_on_a_replica_that_stops_or_lags_and_a_slot_that_idles_or_holds_wal(
    promtool: str, tmp_path: Path
) -> None:
    replica = {"job": REPLICA_JOB}
    slot = {"job": "postgres-exporter", "slot": SLOT, "instance": "main"}

    def series(metric: str, values: str, labels: dict[str, str]) -> dict[str, str]:
        rendered = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        return {"series": f"{metric}{{{rendered}}}", "values": values}

    not_streaming = replication_alert(
        "EngardeReplicaNotStreaming", "critical", "main-replica-1 does not stream from main",
        "Readers that reach it read data that no longer changes; its log says why.", job=REPLICA_JOB,
    )  # fmt: skip
    lagging = replication_alert(
        "EngardeReplicaLagging", "warning", "main-replica-1 replays main's WAL late",
        "Its last replayed transaction is 2m 0s old.", job=REPLICA_JOB,
    )  # fmt: skip
    inactive = replication_alert(
        "EngardeReplicationSlotInactive", "critical", f"no replica streams through {SLOT} on main",
        "main-replica-1 is down or cannot connect; the slot keeps WAL for it.", slot=SLOT, job="postgres-exporter",
        instance="main",
    )  # fmt: skip
    retaining = replication_alert(
        "EngardeReplicationSlotRetainingWal", "warning", f"{SLOT} holds 6GiB of WAL on main",
        "At 10GB (max_slot_wal_keep_size) the primary drops it and main-replica-1 needs a new base backup "
        "(remove its volume).", slot=SLOT, job="postgres-exporter", instance="main",
    )  # fmt: skip
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                series("engarde_replica_streaming", "0x20", replica),
                series("engarde_replica_lag_seconds", "120x20", replica),
                series("engarde_replication_slot_active", "0x20", slot),
                series("engarde_replication_slot_retained_bytes", f"{6 * GIB}x20", slot),
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "EngardeReplicaNotStreaming", "exp_alerts": []},  # for: 2m
                {"eval_time": "3m", "alertname": "EngardeReplicaNotStreaming", "exp_alerts": [not_streaming]},
                {"eval_time": "4m", "alertname": "EngardeReplicaLagging", "exp_alerts": []},  # for: 5m
                {"eval_time": "6m", "alertname": "EngardeReplicaLagging", "exp_alerts": [lagging]},
                {"eval_time": "4m", "alertname": "EngardeReplicationSlotInactive", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "EngardeReplicationSlotInactive", "exp_alerts": [inactive]},
                {"eval_time": "9m", "alertname": "EngardeReplicationSlotRetainingWal", "exp_alerts": []},  # for: 10m
                {"eval_time": "11m", "alertname": "EngardeReplicationSlotRetainingWal", "exp_alerts": [retaining]},
            ],
        },
        {
            # A healthy replica: streaming, a minute behind at most, its slot active and holding 4 GiB.
            "interval": "1m",
            "input_series": [
                series("engarde_replica_streaming", "1x20", replica),
                series("engarde_replica_lag_seconds", "60x20", replica),
                series("engarde_replication_slot_active", "1x20", slot),
                series("engarde_replication_slot_retained_bytes", f"{4 * GIB}x20", slot),
            ],
            "alert_rule_test": [
                {"eval_time": "15m", "alertname": name, "exp_alerts": []}
                for name in (
                    "EngardeReplicaNotStreaming",
                    "EngardeReplicaLagging",
                    "EngardeReplicationSlotInactive",
                    "EngardeReplicationSlotRetainingWal",
                )
            ],
        },
    ]
    run_promtool(promtool, tmp_path, alerts_of("dev", "servers.main.replicas=[{}]"), tests)


def test_external_replicas_have_lag_and_streaming_rules_but_no_slot_rules() -> None:
    rules = yaml.safe_load(alerts_of("prod", 'servers.main.replicas=[{"host": "replica.internal"}]'))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "replica" in rule["labels"]}
    assert names == {"EngardeReplicaNotStreaming", "EngardeReplicaLagging", "EngardeExporterDown",
                     "EngardeDatabaseUnreachable"}  # fmt: skip
