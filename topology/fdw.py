"""Cross-database reads (`crossDatabaseReads`): what main's server is given to read Langflow's tables
on flowdb through postgres_fdw, besides the provider resources (extension, foreign server, mappings).

Langflow creates its tables after the stack runs (its Alembic migrations at start) and adds more on
upgrades, so a list of foreign tables fixed at `pulumi up` would always lag. Instead the schema's
owner holds a SECURITY DEFINER function that drops the foreign tables and creates them again from
flowdb's catalog; the analytics reader (the only other role allowed to run it) calls it after a
Langflow upgrade. The foreign tables get their SELECT from the default privileges FOR ROLE the owner,
like every table of the layout.
"""

from __future__ import annotations

from topology.catalog import REFRESH_FUNCTION
from topology.model import CrossDatabaseReads
from topology.sql import quote_ident, quote_literal

REMOTE_SCHEMA_IMPORTED = "public"
"""The schema of flowdb's database Langflow's migrations create their tables in."""
REMOTE_COLUMNS = "remote_columns"
"""The foreign table over flowdb's `information_schema.columns` the refresh function reads."""


def foreign_server_options(reads: CrossDatabaseReads) -> dict[str, str]:
    """The foreign server's OPTIONS: where main's server connects (no credential: the mappings hold them)."""
    options = {"host": reads.remote_host, "port": str(reads.remote_port), "dbname": reads.remote_database}
    if reads.remote_sslmode is not None:
        options["sslmode"] = reads.remote_sslmode
    return options


def refresh_function(reads: CrossDatabaseReads) -> str:
    """`<schema>.refresh_foreign_tables()`, qualified and quoted."""
    return f"{quote_ident(reads.schema)}.{quote_ident(REFRESH_FUNCTION)}"


def refresh_function_sql(reads: CrossDatabaseReads) -> str:
    """Run by the admin (a superuser: postgres_fdw needs one) in main's database, idempotent.

    The owner may use the foreign server (creating a foreign table needs USAGE on it; the readers
    need none: a foreign table's SELECT and a mapping suffice). `IMPORT FOREIGN SCHEMA` cannot be
    used: it names each column's remote type, and Langflow's enums (`public.deployment_type_enum`...)
    do not exist on main. So the function reads flowdb's `information_schema.columns` (through a
    foreign table of its own) and creates each foreign table itself, a column of a type outside
    pg_catalog (enum, an extension's type, an array of those) as `text`. It runs as the owner, so
    what it creates is the owner's and gets the readers' SELECT by default privileges; PUBLIC loses
    EXECUTE, the readers get it. The first refresh runs at once: Langflow's tables, if its
    migrations have run, are readable now.
    """
    owner, server = quote_ident(reads.owner), quote_ident(reads.foreign_server)
    function = refresh_function(reads)
    readers = ", ".join(quote_ident(reader) for reader in reads.readers)
    schema = quote_literal(reads.schema)
    columns = f"{quote_ident(reads.schema)}.{quote_ident(REMOTE_COLUMNS)}"
    return (
        f"GRANT USAGE ON FOREIGN SERVER {server} TO {owner};\n"
        f"SET LOCAL ROLE {owner};\n"
        f"CREATE FOREIGN TABLE IF NOT EXISTS {columns} (\n"
        "    table_schema text, table_name text, column_name text, ordinal_position integer,\n"
        "    udt_schema text, udt_name text\n"
        f") SERVER {server} OPTIONS (schema_name 'information_schema', table_name 'columns');\n"
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS integer\n"
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $refresh$\n"
        "DECLARE\n"
        "    stale record;\n"
        "    remote record;\n"
        "    imported integer := 0;\n"
        "BEGIN\n"
        "    FOR stale IN SELECT c.relname FROM pg_catalog.pg_class c\n"
        "        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        f"        WHERE n.nspname = {schema} AND c.relkind = 'f' AND c.relname <> {quote_literal(REMOTE_COLUMNS)}\n"
        "    LOOP\n"
        f"        EXECUTE format('DROP FOREIGN TABLE %I.%I', {schema}, stale.relname);\n"
        "    END LOOP;\n"
        "    FOR remote IN\n"
        "        SELECT table_name, string_agg(format('%I %s', column_name, CASE WHEN udt_schema = 'pg_catalog'\n"
        "                   THEN format('pg_catalog.%I', udt_name) ELSE 'text' END), ', ' ORDER BY ordinal_position)\n"
        "               AS columns\n"
        f"        FROM {columns}\n"
        f"        WHERE table_schema = {quote_literal(REMOTE_SCHEMA_IMPORTED)}\n"
        "        GROUP BY table_name\n"
        "    LOOP\n"
        "        EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',\n"
        f"            {schema}, remote.table_name, remote.columns, {quote_literal(reads.foreign_server)},\n"
        f"            {quote_literal(REMOTE_SCHEMA_IMPORTED)}, remote.table_name);\n"
        "        imported := imported + 1;\n"
        "    END LOOP;\n"
        "    RETURN imported;\n"
        "END\n"
        "$refresh$;\n"
        f"REVOKE ALL ON FUNCTION {function}() FROM PUBLIC;\n"
        f"GRANT EXECUTE ON FUNCTION {function}() TO {readers};\n"
        f"SELECT {function}();\n"
        "RESET ROLE;\n"
    )


def refresh_function_exists_query(reads: CrossDatabaseReads) -> str:
    """A row while the function exists: refresh reports the script gone once it is dropped."""
    return (
        "SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE n.nspname = {quote_literal(reads.schema)} AND p.proname = {quote_literal(REFRESH_FUNCTION)}"
    )
