"""Cross-database reads (`crossDatabaseReads`): what main's server is given to read Langflow's tables
on flowdb through postgres_fdw, besides the provider resources (extension, foreign server, mappings).

Langflow creates its tables after the stack runs (its Alembic migrations at start) and adds more on
upgrades, so a list of foreign tables fixed at `pulumi up` would always lag. Instead the schema's
owner holds a SECURITY DEFINER function that drops the foreign tables and imports Langflow's
`public` schema again; the analytics reader (the only other role allowed to run it) calls it after a
Langflow upgrade. The foreign tables get their SELECT from the default privileges FOR ROLE the owner,
like every table of the layout.
"""

from __future__ import annotations

from topology.catalog import REFRESH_FUNCTION
from topology.model import CrossDatabaseReads
from topology.sql import quote_ident, quote_literal

REMOTE_SCHEMA_IMPORTED = "public"
"""The schema of flowdb's database Langflow's migrations create their tables in."""


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

    The owner may use the foreign server (IMPORT FOREIGN SCHEMA needs USAGE on it; the readers need
    none: a foreign table's SELECT and a mapping suffice). The function is created as the owner, so
    it runs as the owner and what it imports is the owner's; PUBLIC loses EXECUTE, the readers get it.
    The first import runs at once: Langflow's tables, if its migrations have run, are readable now.
    """
    owner, server = quote_ident(reads.owner), quote_ident(reads.foreign_server)
    function = refresh_function(reads)
    readers = ", ".join(quote_ident(reader) for reader in reads.readers)
    schema_literal = quote_literal(reads.schema)
    return (
        f"GRANT USAGE ON FOREIGN SERVER {server} TO {owner};\n"
        f"SET LOCAL ROLE {owner};\n"
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS integer\n"
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $refresh$\n"
        "DECLARE\n"
        "    stale record;\n"
        "    imported integer;\n"
        "BEGIN\n"
        "    FOR stale IN SELECT c.relname FROM pg_catalog.pg_class c\n"
        "        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        f"        WHERE n.nspname = {schema_literal} AND c.relkind = 'f'\n"
        "    LOOP\n"
        f"        EXECUTE format('DROP FOREIGN TABLE %I.%I', {schema_literal}, stale.relname);\n"
        "    END LOOP;\n"
        f"    EXECUTE format('IMPORT FOREIGN SCHEMA %I FROM SERVER %I INTO %I', "
        f"{quote_literal(REMOTE_SCHEMA_IMPORTED)}, {quote_literal(reads.foreign_server)}, {schema_literal});\n"
        "    SELECT count(*) INTO imported FROM pg_catalog.pg_class c\n"
        "        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        f"        WHERE n.nspname = {schema_literal} AND c.relkind = 'f';\n"
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
