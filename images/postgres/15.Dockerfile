# engarde.local/postgres:15.<minor>: Debian bookworm's postgresql-15, run by entrypoint.sh (the official
# postgres image's contract as the stack uses it). Built by scripts/images, which passes BASE.
ARG BASE
FROM ${BASE}

# Debian's postgresql-common would create a cluster at install time; the entrypoint makes the one the image runs.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/engarde.conf \
 && apt-get update \
 && apt-get install -y postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d \
 && chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data

# initdb, postgres, pg_ctl, psql, pg_isready, pg_dump, pg_basebackup
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
