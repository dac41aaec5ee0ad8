"""The documented layout, cell by cell: what every test of the access matrix compares against."""

OWN, R, A, B = "owner", "read", "append", "backup"
SERVICE_SCHEMAS = ["madansara", "sankore", "onside", "capilytics"]

DEDICATED_MATRIX: dict[tuple[str, str, str], str] = {
    ("main", "public", "engarde_app"): OWN,
    ("main", "audit", "engarde_app"): A,
    ("main", "madansara", "madansara_user"): OWN,
    ("main", "audit", "madansara_user"): A,
    ("main", "sankore", "sankore_user"): OWN,
    ("main", "audit", "sankore_user"): A,
    ("main", "onside", "onside_user"): OWN,
    ("main", "audit", "onside_user"): A,
    ("main", "capilytics", "capilytics_user"): OWN,
    ("main", "audit", "capilytics_user"): A,
    **{("main", schema, "analytics_readonly"): R for schema in SERVICE_SCHEMAS},
    **{("main", schema, "audit_user"): R for schema in ["public", *SERVICE_SCHEMAS, "audit"]},
    ("main", "public", "langflow_reader"): R,
    ("main", "audit", "langflow_reader"): A,
    ("flowdb", "public", "langflow_app"): OWN,
    ("flowdb", "public", "engarde_flow_reader"): R,
    ("flowdb", "public", "audit_user"): R,
    # The backup login reads every schema through pg_read_all_data.
    **{("main", schema, "engarde_backup"): B for schema in ["public", *SERVICE_SCHEMAS, "audit"]},
    ("flowdb", "public", "engarde_backup"): B,
}
"""The access matrix of dev and prod (docs/access-model.md): (server, schema, role) -> profile."""

SHARED_MATRIX: dict[tuple[str, str, str], str] = {
    **{k: v for k, v in DEDICATED_MATRIX.items() if k[0] == "main" and k[2] != "langflow_reader"},
    ("main", "langflow", "langflow_app"): OWN,
    ("main", "public", "langflow_app"): R,
    ("main", "audit", "langflow_app"): A,
    ("main", "langflow", "engarde_app"): R,
    ("main", "langflow", "audit_user"): R,
    ("main", "langflow", "engarde_backup"): B,
}
"""Langflow on main, in its own schema (`langflowPlacement: shared`)."""
