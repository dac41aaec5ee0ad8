"""The plan's views: text, JSON, markdown and mermaid (`plan`), the connection budget and pgbouncer
files (`budget`), the privilege records (`privileges`) and the providers' SQL as a psql script
(`sql`). Reads `capture` and `providers`."""
