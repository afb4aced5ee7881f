"""The database's pod scripts, as the program renders them, against a real PostgreSQL
server and a real S3 API on 127.0.0.1, run as an unprivileged user.

A stub that answers what a script expects proves nothing: only a real server shows a
restore that empties tables when cut off, a role that is still superuser, or a login
that needs no password.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ProgramRun, run_main
from tests.pods import RenderedPod, owned_file, post_start_script, relocate, script
from tests.servers import (
    PostgresFactory,
    PostgresServer,
    S3Server,
    describe,
    kill_session,
    owned_dir,
    run_unprivileged,
    session_members,
    small_volume,
    spawn_unprivileged,
    start_postgres,
    unreachable_endpoint_url,
)

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CRONJOB = "kubernetes:batch/v1:CronJob"
JOB = "kubernetes:batch/v1:Job"
KEEP = 3
DATABASE = "app"
APP_USER = "app"
# The in-cluster places the rendered pods name, and what stands in for them here.
BACKUP_MOUNT = "/backups"
SOCKET_DIR = "/var/run/postgresql"

SCHEMA = """
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email citext NOT NULL UNIQUE CHECK (email LIKE '%@%'),
  mood mood NOT NULL DEFAULT 'calm'
);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  total numeric(10, 2) NOT NULL
);
CREATE INDEX orders_by_customer ON orders (customer_id, total DESC);
CREATE TABLE events (id bigserial PRIMARY KEY, payload text NOT NULL);
CREATE SEQUENCE invoice_numbers START 1000;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE FUNCTION order_total(customer bigint) RETURNS numeric
  LANGUAGE sql STABLE AS 'SELECT coalesce(sum(total), 0) FROM orders WHERE customer_id = customer';
INSERT INTO customers (email, mood)
  SELECT 'c' || i || '@example.com', CASE WHEN i % 2 = 0 THEN 'busy'::mood ELSE 'calm' END
  FROM generate_series(1, 50) i;
INSERT INTO orders (customer_id, total) SELECT 1 + i % 50, i * 1.25 FROM generate_series(1, 500) i;
SELECT nextval('invoice_numbers') FROM generate_series(1, 7);
CREATE TABLE measurements (taken date NOT NULL, value int) PARTITION BY RANGE (taken);
CREATE TABLE measurements_2026 PARTITION OF measurements
  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO measurements SELECT date '2026-01-01' + i, i FROM generate_series(1, 300) i;
CREATE STATISTICS orders_stats ON customer_id, total FROM orders;
SELECT lo_from_bytea(0, convert_to('a large object, ' || repeat('x', 5000), 'UTF8'));
SELECT lo_from_bytea(0, convert_to(repeat('another large object ', 2000), 'UTF8'));
CREATE MATERIALIZED VIEW customer_totals AS
  SELECT customer_id, sum(total) AS total FROM orders GROUP BY customer_id;
CREATE UNIQUE INDEX customer_totals_by_customer ON customer_totals (customer_id);
GRANT SELECT ON orders, customer_totals TO reporting;
COMMENT ON TABLE orders IS 'one row per order';
CREATE TABLE writes (note text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
"""
# A role of the cluster the dump grants to: the app cannot create roles, the superuser can.
READER_ROLE = "CREATE ROLE reporting"


def _events(rows: int) -> str:
    return (
        "INSERT INTO events (payload) SELECT repeat(md5(i::text), 4) "
        f"FROM generate_series(1, {rows}) i;"
    )


# Everything a dump carries besides the rows, which fingerprint() adds table by table.
DEFINITIONS = """
SELECT 'sequence ' || sequencename || ' ' || coalesce(last_value::text, 'unused')
  FROM pg_sequences WHERE schemaname = 'public'
UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
UNION ALL SELECT 'function ' || p.proname || ' ' || pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
  AND p.prokind <> 'a' AND NOT EXISTS (SELECT FROM pg_depend d
    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' '
  || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL SELECT 'type ' || t.typname || ' '
  || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname
UNION ALL SELECT 'large objects ' || count(*) || ' '
  || coalesce(md5(string_agg(encode(lo_get(oid), 'hex'), ',' ORDER BY oid)), '')
  FROM pg_largeobject_metadata
UNION ALL SELECT 'statistics ' || stxname FROM pg_statistic_ext
UNION ALL SELECT 'extension ' || extname FROM pg_extension
UNION ALL SELECT 'matview ' || matviewname || ' ' || ispopulated || ' ' || definition
  FROM pg_matviews WHERE schemaname = 'public'
UNION ALL SELECT 'acl ' || relname || ' ' || relacl::text FROM pg_class
  WHERE relnamespace = 'public'::regnamespace AND relacl IS NOT NULL
UNION ALL SELECT 'comment ' || objoid::regclass || ' ' || description FROM pg_description
  WHERE classoid = 'pg_class'::regclass AND objsubid = 0
    AND objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
ORDER BY 1
"""


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket("webapp-backups-scripts")


@pytest.fixture(scope="module")
def rendered(s3_server: S3Server, bucket: str) -> ProgramRun:
    """The dev stack with off-cluster copies to the S3 API on 127.0.0.1, the way a team
    with an in-cluster MinIO would set it up."""
    return run_main(
        "dev",
        {
            "webapp:backupRetain": str(KEEP),
            "webapp:backupBucket": f"s3://{bucket}/dev",
            "webapp:backupS3Endpoint": s3_server.endpoint_url,
        },
        secret_overrides={
            "webapp:backupS3AccessKeyId": s3_server.access_key,
            "webapp:backupS3SecretAccessKey": s3_server.secret_key,
        },
    )


@dataclass
class Deployed:
    """A database server set up the way the rendered StatefulSet sets it up."""

    server: PostgresServer
    pod: RenderedPod
    volumes: dict[str, Path]
    hook_log: Path
    tmp: Path
    # The server's log up to the end of the first start's hook.
    first_start_log: str = ""

    @property
    def passwords(self) -> dict[str, str]:
        (volume,) = [v for v in self.pod.template["spec"]["volumes"] if v["name"] == "credentials"]
        return self.pod.secret(volume["secret"]["secretName"])

    def run_hook(self) -> subprocess.CompletedProcess[str]:
        container = self.pod.container("postgres")
        env = relocate(
            self.pod.env(container), {**self.volumes, SOCKET_DIR: self.server.socket_dir}
        )
        env.update(
            PGPORT=str(self.server.port),
            HOOK_LOG=str(self.hook_log),
            PATH=self.server.client_env(APP_USER, None)["PATH"],
            HOME=str(self.tmp),
            WAIT_TRIES="15",
        )
        result = run_unprivileged(["/bin/sh", "-c", post_start_script(container)], env, timeout=120)
        assert result.returncode == 0, describe(result)
        return result

    def log(self) -> str:
        return self.hook_log.read_text() if self.hook_log.exists() else ""

    def sql(self, statement: str, *, user: str = "postgres", database: str = DATABASE) -> str:
        """Over the local socket, as the container's own processes connect."""
        return self.server.query(statement, user=user, database=database)

    def tcp(
        self, statement: str, *, user: str, password: str | None, database: str = DATABASE
    ) -> subprocess.CompletedProcess[str]:
        """Over TCP, as every other pod connects."""
        return self.server.psql(
            statement, user=user, database=database, password=password, tcp=True, check=False
        )

    def fingerprint(self, user: str = "postgres", without: tuple[str, ...] = ()) -> str:
        """Every row, sequence, view, materialized view, function, index, constraint,
        grant, comment and type of the app's database (less the tables `without`)."""
        tables = [
            table
            for table in self.sql(
                "SELECT c.oid::regclass FROM pg_class c WHERE c.relkind IN ('r', 'm') "
                "AND c.relnamespace = 'public'::regnamespace ORDER BY c.relname",
                user=user,
            ).split()
            if table not in without
        ]
        # One psql for all of it: a session each would take seconds on a busy machine.
        rows = "".join(
            f"SELECT 'table {table} ' || count(*) || ' ' || md5(coalesce(string_agg("
            f"row::text, ',' ORDER BY row::text), '')) FROM {table} row;\n"
            for table in tables
        )
        return self.sql(rows + DEFINITIONS, user=user)


def _deploy(
    postgres_factory: Callable[..., PostgresServer],
    rendered: ProgramRun,
    tmp_path: Path,
    *,
    bootstrap_user: str = "postgres",
    run_hook: bool = True,
) -> Deployed:
    pod = RenderedPod.of(rendered, rendered.one(STATEFULSET, "webapp-db-statefulset"))
    container = pod.container("postgres")
    volumes = pod.write_volumes(container, owned_dir(tmp_path / "pod"))
    (hba_arg,) = [arg for arg in container["args"] if arg.startswith("hba_file=")]
    hba_file = Path(relocate({"f": hba_arg.removeprefix("hba_file=")}, volumes)["f"])
    server = postgres_factory(bootstrap_user=bootstrap_user, hba_file=hba_file)
    # What the image's entrypoint does on first start: POSTGRES_DB, as the bootstrap user.
    server.query(f"CREATE DATABASE {DATABASE}; {READER_ROLE}", user=bootstrap_user)
    deployed = Deployed(
        server,
        pod,
        volumes,
        owned_dir(tmp_path / "logs") / "hook.log",
        owned_dir(tmp_path / "home"),
    )
    if run_hook:
        deployed.run_hook()
        deployed.first_start_log = server.log_text()
    return deployed


def _with_data(deployed: Deployed) -> Deployed:
    app_password = deployed.passwords["password"]
    created = deployed.tcp(SCHEMA + _events(2000), user=APP_USER, password=app_password)
    assert created.returncode == 0, describe(created)
    return deployed


@pytest.fixture
def database(postgres_factory: PostgresFactory, rendered: ProgramRun, tmp_path: Path) -> Deployed:
    """A database of the test's own, for tests that change it."""
    return _with_data(_deploy(postgres_factory, rendered, tmp_path))


@pytest.fixture(scope="module")
def shared_database(
    rendered: ProgramRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    """One database for the tests that only look."""
    servers: list[PostgresServer] = []
    base = tmp_path_factory.mktemp("shared-database")

    def create(**kwargs: Any) -> PostgresServer:
        servers.append(start_postgres(base / "postgres", **kwargs))
        return servers[-1]

    try:
        yield _with_data(_deploy(create, rendered, base))
    finally:
        for server in servers:
            server.close()


# --- roles -------------------------------------------------------------------------------


def test_the_app_role_owns_its_database_and_nothing_more(shared_database: Deployed) -> None:
    roles = shared_database.sql(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
        "WHERE rolname IN ('app', 'postgres', 'exporter') ORDER BY 1"
    )
    assert roles.splitlines() == [
        "app|f|f|f|f",
        "exporter|f|f|f|f",
        "postgres|t|t|t|t",
    ]
    assert (
        shared_database.sql(
            f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{DATABASE}'"
        )
        == APP_USER
    )
    password = shared_database.passwords["password"]
    shell = shared_database.tcp("COPY (SELECT 1) TO PROGRAM 'id'", user=APP_USER, password=password)
    assert shell.returncode != 0 and "must be superuser" in shell.stderr
    role = shared_database.tcp("CREATE ROLE intruder", user=APP_USER, password=password)
    assert role.returncode != 0 and "permission denied to create role" in role.stderr


def test_no_tcp_login_without_a_password_and_none_for_the_superuser(
    shared_database: Deployed,
) -> None:
    for role in ("app", "exporter", "postgres"):
        refused = shared_database.tcp("SELECT 1", user=role, password=None)
        assert refused.returncode != 0, role
    superuser = shared_database.tcp(
        "SELECT 1", user="postgres", password=shared_database.passwords["superuser-password"]
    )
    assert superuser.returncode != 0 and "rejects connection" in superuser.stderr
    wrong = shared_database.tcp("SELECT 1", user=APP_USER, password="not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    right = shared_database.tcp(
        "SELECT 1", user=APP_USER, password=shared_database.passwords["password"]
    )
    assert right.returncode == 0, describe(right)
    encrypted = shared_database.sql(
        "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'app'"
    )
    assert encrypted == "t"


def test_the_exporter_reads_statistics_only(shared_database: Deployed) -> None:
    password = shared_database.passwords["exporter-password"]
    stats = shared_database.tcp(
        "SELECT count(*) FROM pg_stat_activity WHERE query IS NOT NULL; "
        "SELECT numbackends FROM pg_stat_database WHERE datname = 'app';",
        user="exporter",
        password=password,
    )
    assert stats.returncode == 0, describe(stats)
    for statement in ("SELECT * FROM orders", "DELETE FROM orders", "CREATE TABLE x (i int)"):
        denied = shared_database.tcp(statement, user="exporter", password=password)
        assert denied.returncode != 0 and "permission denied" in denied.stderr, statement


def test_the_hook_logs_what_it_did_and_the_server_logs_no_fatal_line(
    shared_database: Deployed,
) -> None:
    """The first start (no app role yet) and every later one: the hook's readiness check
    and its logins leave no FATAL line in the server's log."""
    assert "passwords set for: app exporter postgres" in shared_database.log()
    assert "FATAL" not in shared_database.first_start_log
    logged = len(shared_database.server.log_text())
    shared_database.run_hook()
    assert shared_database.log().count("roles checked") == 2
    assert "FATAL" not in shared_database.server.log_text()[logged:]


def test_data_of_another_uid_stops_the_pod_with_the_fix(
    rendered: ProgramRun, tmp_path: Path
) -> None:
    """PostgreSQL runs only as the owner of its data: a stack created with the image's uid
    999 that takes the new default must be told which uid to keep, before the server
    would crash-loop on it."""
    pod = RenderedPod.of(rendered, rendered.one(STATEFULSET, "webapp-db-statefulset"))
    container = pod.container("check-data-owner")
    env = pod.env(container)
    ours = owned_dir(tmp_path / "ours" / "pgdata")
    (ours / "PG_VERSION").write_text("17")
    owned_file(ours / "PG_VERSION")
    path = {"PATH": "/usr/bin:/bin"}
    result = run_unprivileged(
        ["/bin/sh", "-c", script(container)], {**env, **path, "PGDATA": str(ours)}, timeout=30
    )
    assert result.returncode == 0, describe(result)
    if os.geteuid() != 0:
        pytest.skip("data of another uid needs root to create; CI runs as root")
    theirs = owned_dir(tmp_path / "theirs") / "pgdata"
    theirs.mkdir(mode=0o755)
    (theirs / "PG_VERSION").write_text("17")
    result = run_unprivileged(
        ["/bin/sh", "-c", script(container)], {**env, **path, "PGDATA": str(theirs)}, timeout=30
    )
    assert result.returncode != 0, describe(result)
    assert "belongs to uid 0" in result.stderr and "webapp:dbUserId" in result.stderr


def test_an_empty_password_file_leaves_the_password_alone(
    postgres_factory: PostgresFactory, rendered: ProgramRun, tmp_path: Path
) -> None:
    deployed = _deploy(postgres_factory, rendered, tmp_path)
    old_password = deployed.passwords["password"]
    (secret_dir,) = [d for d in deployed.volumes.values() if (d / "password").exists()]
    for contents in ("", "\n  \n"):
        (secret_dir / "password").write_text(contents)
        deployed.run_hook()
        assert f"{secret_dir}/password is empty; app keeps its current password" in deployed.log()
        login = deployed.tcp("SELECT 1", user=APP_USER, password=old_password)
        assert login.returncode == 0, describe(login)
    (secret_dir / "password").unlink()
    deployed.run_hook()
    assert f"cannot read {secret_dir}/password; app keeps its current password" in deployed.log()
    assert deployed.tcp("SELECT 1", user=APP_USER, password=old_password).returncode == 0


def test_a_stack_deployed_with_the_old_layout_upgrades_without_losing_data_or_access(
    postgres_factory: PostgresFactory, rendered: ProgramRun, tmp_path: Path
) -> None:
    """The old layout: the image made the app's role the bootstrap superuser
    (POSTGRES_USER=app), and the app created its objects as that role."""
    old = _deploy(postgres_factory, rendered, tmp_path, bootstrap_user=APP_USER, run_hook=False)
    old.sql(
        SCHEMA + _events(100) + "CREATE SCHEMA reports; CREATE TABLE reports.daily (d date);",
        user=APP_USER,
    )
    old.sql(f"ALTER ROLE {APP_USER} PASSWORD '{old.passwords['password']}'", user=APP_USER)
    before = old.fingerprint(user=APP_USER)

    old.run_hook()

    assert "moved to the new layout: app owns app and is no superuser" in old.log()
    assert old.fingerprint() == before
    assert old.sql("SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY 1") == "postgres"
    not_moved = old.sql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('public', 'reports') AND pg_get_userbyid(c.relowner) <> 'app' "
        "UNION ALL SELECT nspname FROM pg_namespace WHERE nspname = 'reports' "
        "AND pg_get_userbyid(nspowner) <> 'app' "
        "UNION ALL SELECT proname FROM pg_proc p WHERE pronamespace = 'public'::regnamespace "
        "AND pg_get_userbyid(proowner) <> 'app' AND NOT EXISTS (SELECT FROM pg_depend d "
        "WHERE d.objid = p.oid AND d.deptype = 'e') "
        "UNION ALL SELECT typname FROM pg_type WHERE typname = 'mood' "
        "AND pg_get_userbyid(typowner) <> 'app' "
        "UNION ALL SELECT stxname FROM pg_statistic_ext WHERE pg_get_userbyid(stxowner) <> 'app' "
        "UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata "
        "WHERE pg_get_userbyid(lomowner) <> 'app'"
    )
    assert not_moved == ""
    app_password = old.passwords["password"]
    writes = old.tcp(
        "INSERT INTO orders (customer_id, total) VALUES (1, 5); DROP TABLE reports.daily; "
        "ALTER TABLE measurements DETACH PARTITION measurements_2026;",
        user=APP_USER,
        password=app_password,
    )
    assert writes.returncode == 0, describe(writes)
    shell = old.tcp("COPY (SELECT 1) TO PROGRAM 'id'", user=APP_USER, password=app_password)
    assert shell.returncode != 0
    # A later start finds the new layout and changes nothing.
    old.run_hook()
    assert old.log().count("moved to the new layout") == 1
    assert old.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'webapp_layout_upgrade'") == "0"


# --- backups, copies and restores --------------------------------------------------------


@dataclass
class Jobs:
    database: Deployed
    backup: RenderedPod
    backup_dir: Path
    s3: S3Server
    bucket: str
    tmp: Path

    def env(
        self, pod: RenderedPod, name: str, overrides: dict[str, str] | None = None
    ) -> dict[str, str]:
        container = pod.container(name)
        env = relocate(
            pod.env(container), {BACKUP_MOUNT: self.backup_dir, "/tmp": owned_dir(self.tmp / name)}
        )
        server = self.database.server
        env.update(
            PATH=server.client_env(APP_USER, None)["PATH"],
            LC_ALL="C.UTF-8",
            AWS_EC2_METADATA_DISABLED="true",
        )
        if "PGHOST" in env:
            env.update(PGHOST="127.0.0.1", PGPORT=str(server.port))
        env.update(overrides or {})
        return env

    def step(
        self,
        pod: RenderedPod,
        name: str,
        overrides: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        env = self.env(pod, name, overrides)
        return run_unprivileged(
            ["/bin/sh", "-c", script(pod.container(name))], env, timeout=timeout
        )

    def start(
        self, pod: RenderedPod, name: str, overrides: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """The step in the background, in a session of its own (kill_session stops it
        and everything it started, as a container's end does; use _running); its output
        in tmp."""
        logs = owned_dir(self.tmp / "logs")
        out, err = (
            os.open(logs / f"{name}.{kind}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            for kind in ("out", "err")
        )
        try:
            return spawn_unprivileged(
                ["/bin/sh", "-c", script(pod.container(name))],
                self.env(pod, name, overrides),
                stdout=out,
                stderr=err,
            )
        finally:
            os.close(out)
            os.close(err)

    def output(self, name: str) -> str:
        logs = self.tmp / "logs"
        return (logs / f"{name}.out").read_text() + (logs / f"{name}.err").read_text()

    def backup_now(self, overrides: dict[str, str] | None = None) -> None:
        for step in ("dump", "upload"):
            result = self.step(self.backup, step, overrides)
            assert result.returncode == 0, describe(result)

    def local_dumps(self) -> list[str]:
        return sorted(p.name for p in self.backup_dir.iterdir() if p.name.endswith(".dump"))

    def remote_dumps(self) -> list[str]:
        """Dumps in the bucket that carry their checksum object, as every complete upload
        does."""
        keys = self.s3.objects(self.bucket, "dev/")
        return sorted(
            key.rsplit("/", 1)[-1]
            for key in keys
            if key.endswith(".dump") and f"{key}.sha256" in keys
        )

    def restore_pod(self, restore_from: str) -> RenderedPod:
        run = run_main(
            "dev",
            {**self._config(), "webapp:restoreFrom": restore_from},
            secret_overrides=self._secrets(),
        )
        (job,) = run.of_type(JOB)
        return RenderedPod.of(run, job)

    def _config(self) -> dict[str, str]:
        return {
            "webapp:backupRetain": str(KEEP),
            "webapp:backupBucket": f"s3://{self.bucket}/dev",
            "webapp:backupS3Endpoint": self.s3.endpoint_url,
        }

    def _secrets(self) -> dict[str, str]:
        return {
            "webapp:backupS3AccessKeyId": self.s3.access_key,
            "webapp:backupS3SecretAccessKey": self.s3.secret_key,
        }


@pytest.fixture
def jobs(
    database: Deployed, rendered: ProgramRun, s3_server: S3Server, bucket: str, tmp_path: Path
) -> Jobs:
    for key in s3_server.objects(bucket, "dev/"):
        s3_server.client.delete_object(Bucket=bucket, Key=key)
    backup = RenderedPod.of(rendered, rendered.one(CRONJOB, "webapp-db-backup"))
    return Jobs(
        database, backup, owned_dir(tmp_path / "backups"), s3_server, bucket, tmp_path / "jobs"
    )


def test_dump_upload_drop_and_restore_from_the_bucket_is_identical(jobs: Jobs) -> None:
    database = jobs.database
    before = database.fingerprint()
    jobs.backup_now()
    (name,) = jobs.local_dumps()
    assert jobs.remote_dumps() == [name]
    stored = jobs.s3.objects(jobs.bucket, "dev/")
    assert stored[f"dev/{name}"] == (jobs.backup_dir / name).read_bytes()
    assert stored[f"dev/{name}.sha256"].decode() == (jobs.backup_dir / f"{name}.sha256").read_text()

    database.sql(
        "DROP VIEW big_orders; DROP MATERIALIZED VIEW customer_totals; "
        "DROP TABLE orders, events, customers, measurements; "
        "DROP TYPE mood; DROP SEQUENCE invoice_numbers; DROP FUNCTION order_total(bigint); "
        "SELECT lo_unlink(oid) FROM pg_largeobject_metadata; CREATE TABLE added_later (i int)",
        user=APP_USER,
    )
    for path in jobs.backup_dir.iterdir():
        path.unlink()  # the volume is gone too: only the bucket has the dump
    restore = jobs.restore_pod(f"s3://{jobs.bucket}/dev/{name}")
    for step in ("download", "restore"):
        result = jobs.step(restore, step)
        assert result.returncode == 0, describe(result)
    assert database.fingerprint() == before
    assert list((jobs.backup_dir / "restore").iterdir()) == [], "the download is cleaned up"


def test_an_unreachable_bucket_fails_the_job_and_deletes_nothing_local(jobs: Jobs) -> None:
    assert jobs.step(jobs.backup, "dump").returncode == 0
    dumps = jobs.local_dumps()
    started = time.monotonic()
    result = jobs.step(
        jobs.backup, "upload", {"AWS_ENDPOINT_URL": unreachable_endpoint_url()}, timeout=120
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 90
    assert "the local dumps are kept" in result.stderr
    assert jobs.local_dumps() == dumps


def test_a_restore_of_a_missing_or_damaged_dump_changes_nothing(jobs: Jobs) -> None:
    """A name that is on the volume is what the message suggests: the dumps there, each
    as webapp:restoreFrom takes it, never a checksum or a record."""
    before = jobs.database.fingerprint()
    wanted = f"{DATABASE}-20991231T000000Z.dump"
    nothing = jobs.step(jobs.restore_pod(wanted), "restore")
    assert nothing.returncode != 0
    assert f"no dump {wanted} on the backup volume (it holds no dump)" in nothing.stderr
    assert jobs.step(jobs.backup, "dump").returncode == 0
    (name,) = jobs.local_dumps()
    _fake_dump(jobs, f"{DATABASE}-20261101T030000Z.dump", None)
    handmade = jobs.backup_dir / "before-migration.dump"
    handmade.write_bytes(b"kept by hand")
    owned_file(handmade)
    missing = jobs.step(jobs.restore_pod(wanted), "restore")
    assert missing.returncode != 0
    assert (
        f"(it holds, the latest first: {name} (verified), "
        f"{DATABASE}-20261101T030000Z.dump, before-migration.dump (no checksum); "
        "set webapp:restoreFrom to one of them); nothing was changed"
    ) in missing.stderr, describe(missing)
    with (jobs.backup_dir / name).open("r+b") as dump:
        dump.seek(100)
        dump.write(b"damage")
    damaged = jobs.step(jobs.restore_pod(name), "restore")
    assert damaged.returncode != 0 and "does not match its checksum" in damaged.stderr
    assert jobs.database.fingerprint() == before


def test_an_upload_that_failed_before_is_caught_up_later(jobs: Jobs) -> None:
    assert jobs.step(jobs.backup, "dump").returncode == 0
    (missed,) = jobs.local_dumps()
    assert jobs.remote_dumps() == []  # that day's upload never ran
    _a_second_after(missed)
    jobs.backup_now()
    assert missed in jobs.remote_dumps() and len(jobs.remote_dumps()) == 2


def test_a_new_volume_s_dumps_stay_in_the_bucket_and_the_oldest_go(
    jobs: Jobs, tmp_path: Path
) -> None:
    """A re-created stack or a new claim starts an empty backup volume, whose runs number
    their dumps from 1 again, while the bucket holds the earlier volume's dumps (and one
    an earlier version uploaded, ranked by its sequence alone). The bucket orders by the
    uploads: each new dump stays, the oldest go, `keep` verified ones are kept (two: each
    backup run costs seconds of CLI start-ups, and two show the order as well as more)."""
    keep = 2
    overrides = {"KEEP": str(keep)}
    earlier = f"{DATABASE}-20261001T030000Z.dump"
    jobs.s3.put(jobs.bucket, f"dev/{earlier}", b"an earlier version's upload")
    digest = hashlib.sha256(b"an earlier version's upload").hexdigest()
    jobs.s3.put(jobs.bucket, f"dev/{earlier}.sha256", f"{digest}  {earlier}\n".encode())
    jobs.s3.put(jobs.bucket, f"dev/{earlier}.verified", b"sequence 40\n")
    first: list[str] = []
    for _ in range(keep):
        if first:
            _a_second_after(first[-1])
        jobs.backup_now(overrides)
        (made,) = set(jobs.local_dumps()) - set(first)
        first.append(made)
    assert jobs.remote_dumps() == first, "the earlier version's upload is the oldest"
    stored = jobs.s3.objects(jobs.bucket, "dev/")
    local = (jobs.backup_dir / f"{first[-1]}.verified").read_text()
    assert stored[f"dev/{first[-1]}.verified"].decode() == f"{local}bucket-sequence {40 + keep}\n"

    fresh = replace(jobs, backup_dir=owned_dir(tmp_path / "fresh-volume"))
    second: list[str] = []
    for _ in range(keep - 1):
        _a_second_after((second or first)[-1])
        fresh.backup_now(overrides)
        (made,) = set(fresh.local_dumps()) - set(second)
        second.append(made)
        assert jobs.remote_dumps() == (first + second)[-keep:], "the new dumps stay"
    assert "sequence 1" in (fresh.backup_dir / f"{second[0]}.verified").read_text().splitlines()
    # A restore from the bucket takes the new volume's dump, record and all.
    restore = fresh.restore_pod(f"s3://{jobs.bucket}/dev/{second[-1]}")
    download = fresh.step(restore, "download")
    assert download.returncode == 0, describe(download)


def test_a_missing_credentials_secret_is_named_in_the_log(jobs: Jobs) -> None:
    """The references are optional, so the step starts and says what is wrong instead
    of waiting unseen in CreateContainerConfigError until the deadline."""
    assert jobs.step(jobs.backup, "dump").returncode == 0
    result = jobs.step(
        jobs.backup, "upload", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    )
    assert result.returncode != 0
    assert "lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY (or does not exist)" in result.stderr
    assert jobs.remote_dumps() == []


# --- restores that cannot half-happen -----------------------------------------------------

# A pg_restore that stops its script output before the first line matching PAUSE_AT, says
# so in PAUSE_FLAG and waits to be killed: everything before that line has reached psql,
# nothing after it has. Its --list (the restore's check of the dump) runs unchanged.
PAUSING_PG_RESTORE = r"""#!/bin/sh
case " $* " in *" --list "*) exec "$REAL_PG_RESTORE" "$@" ;; esac
"$REAL_PG_RESTORE" "$@" | awk -v pattern="$PAUSE_AT" -v flag="$PAUSE_FLAG" '
  !paused && $0 ~ pattern { paused = 1; fflush(); system("touch " flag "; sleep 600") }
  { print; fflush() }'
"""


def _tool_dir(path: Path, name: str, text: str) -> Path:
    """A PATH directory holding one executable script, for the unprivileged user."""
    directory = owned_dir(path)
    (directory / name).write_text(text)
    (directory / name).chmod(0o755)
    owned_file(directory / name)
    return directory


# The app as a writer: one INSERT per connection, each attempt counted in TRIED before it
# starts and each note logged in WRITTEN once committed; it stops when STOP exists. One
# attempt at a time: once attempt n + 1 has started, attempt n is over and logged. The
# short pause leaves the two cores to the rest of the run; it still writes every few
# hundredths of a second.
WRITER = r"""n=0
while [ ! -e "$STOP" ]; do
  n=$((n + 1))
  echo "$n" >> "$TRIED"
  if psql -X -q -At -c "INSERT INTO writes (note) VALUES ('$LABEL-$n')" > /dev/null 2>&1; then
    echo "$LABEL-$n" >> "$WRITTEN"
  fi
  sleep 0.02
done
"""

PHASES = {
    "before it began": r"^BEGIN;$",
    "during the data": "^250\t",
    "during the large objects": "lowrite",
    "during the indexes and constraints": "^CREATE INDEX",
    "after the last statement": r"^COMMIT;$",
}


def _wait_for(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.02)


@dataclass
class Writer:
    process: subprocess.Popen[bytes]
    place: Path
    label: str

    def notes(self) -> list[str]:
        written = self.place / "written"
        return written.read_text().split() if written.exists() else []

    def attempts(self) -> int:
        tried = self.place / "tried"
        return tried.read_text().count("\n") if tried.exists() else 0

    def wait_for_attempts(self, count: int) -> None:
        _wait_for(f"the writer's attempt {count}", lambda: self.attempts() >= count)

    def stop(self) -> list[str]:
        """Stops the writer (for good: on a timeout its whole session is killed) and
        returns every note it committed."""
        (self.place / "stop").touch()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            kill_session(self.process.pid)
            self.process.wait()
        return self.notes()


@contextlib.contextmanager
def _writing(jobs: Jobs, label: str) -> Iterator[Writer]:
    """The app writing into its database for the duration of the block, whatever the
    block's outcome; notes are '<label>-<n>', unique to this writer."""
    label = f"{label.replace(' ', '-')}-{os.urandom(3).hex()}"
    place = owned_dir(jobs.tmp / f"writer-{label}")
    server = jobs.database.server
    env = {
        **server.client_env(APP_USER, jobs.database.passwords["password"], DATABASE),
        "PGCONNECT_TIMEOUT": "5",
        "WRITTEN": str(place / "written"),
        "TRIED": str(place / "tried"),
        "STOP": str(place / "stop"),
        "LABEL": label,
    }
    process = spawn_unprivileged(
        ["/bin/sh", "-c", WRITER], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    writer = Writer(process, place, label)
    try:
        _wait_for("the writer's first commits", lambda: len(writer.notes()) > 3)
        yield writer
    finally:
        writer.stop()


@contextlib.contextmanager
def _running(jobs: Jobs, pod: RenderedPod, step: str, overrides: dict[str, str]) -> Iterator[Any]:
    """The step in the background for the duration of the block; afterwards, whatever
    the outcome, every process it started is killed, as when its container ends."""
    process = jobs.start(pod, step, overrides)
    try:
        yield process
    finally:
        kill_session(process.pid)
        process.wait()


def _writes_are_kept_out(writer: Writer) -> None:
    """No write of the app commits from now on: the attempt under way may still end (it
    may have logged in before the database closed), every later one must fail."""
    tried = writer.attempts()
    writer.wait_for_attempts(tried + 1)
    count = len(writer.notes())
    writer.wait_for_attempts(tried + 3)
    assert len(writer.notes()) == count, "a write committed during the restore"


@dataclass
class Bench:
    jobs: Jobs
    dump: str
    dumped: str  # the fingerprint of the dump, less the writer's table
    dumped_notes: set[str]
    pausing: Path  # a PATH directory with the pausing pg_restore

    def pausing_overrides(self, pod: RenderedPod, step: str, phase: str) -> dict[str, str]:
        """What makes `step` run the pausing pg_restore, to stop before `phase`."""
        jobs = self.jobs
        flag = owned_dir(jobs.tmp / "flags") / f"{step}-{phase.replace(' ', '-')}"
        flag.unlink(missing_ok=True)
        # The restore's log of an earlier test would show its transaction.
        (jobs.tmp / step / "restore.log").unlink(missing_ok=True)
        return {
            "PATH": f"{self.pausing}:{jobs.env(pod, step)['PATH']}",
            "REAL_PG_RESTORE": str(jobs.database.server.bindir / "pg_restore"),
            "PAUSE_AT": PHASES[phase],
            "PAUSE_FLAG": str(flag),
        }

    def wait_for_pause(self, process: subprocess.Popen[bytes], step: str, phase: str) -> None:
        """Until the step's pg_restore stopped before `phase` and the server has what it
        sent before: the database closed (a restore's first statement) and, past the
        start, the restore's transaction begun (its notice in the restore's log)."""
        flag = self.jobs.tmp / "flags" / f"{step}-{phase.replace(' ', '-')}"
        _wait_for(f"{step} reaching {phase}", lambda: flag.exists() or process.poll() is not None)
        assert process.poll() is None, self.jobs.output(step)
        if step != "restore":
            return
        database = self.jobs.database
        _wait_for("the database closed", lambda: _connection_limit(database) == "0")
        if phase != "before it began":
            log = self.jobs.tmp / "restore" / "restore.log"
            _wait_for(
                "the restore's transaction",
                lambda: log.exists() and "NOTICE:  restore transaction" in log.read_text(),
            )


@pytest.fixture(scope="module")
def restore_bench(
    rendered: ProgramRun,
    s3_server: S3Server,
    bucket: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Bench]:
    """One database for the restore tests, with a dump of it and changes made since."""
    servers: list[PostgresServer] = []
    base = tmp_path_factory.mktemp("restores")

    def create(**kwargs: Any) -> PostgresServer:
        servers.append(start_postgres(base / "postgres", **kwargs))
        return servers[-1]

    try:
        database = _with_data(_deploy(create, rendered, base))
        database.sql("INSERT INTO writes (note) VALUES ('in the dump')", user=APP_USER)
        backup = RenderedPod.of(rendered, rendered.one(CRONJOB, "webapp-db-backup"))
        jobs = Jobs(database, backup, owned_dir(base / "backups"), s3_server, bucket, base / "j")
        result = jobs.step(backup, "dump")
        assert result.returncode == 0, describe(result)
        (dump,) = jobs.local_dumps()
        dumped = database.fingerprint(without=("writes",))
        database.sql(
            "DELETE FROM orders WHERE id % 2 = 0; REFRESH MATERIALIZED VIEW customer_totals; "
            "INSERT INTO events (payload) VALUES ('after the dump'); "
            "SELECT lo_from_bytea(0, 'a large object made after the dump'); "
            "CREATE TABLE added_later (i int); REVOKE SELECT ON orders FROM reporting",
            user=APP_USER,
        )
        pausing = _tool_dir(base / "pausing", "pg_restore", PAUSING_PG_RESTORE)
        yield Bench(jobs, dump, dumped, {"in the dump"}, pausing)
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def bench(restore_bench: Bench) -> Iterator[Bench]:
    """The restore tests' database; whatever a test's outcome, it leaves the database
    open, with its record of a closed database gone and the role its dump grants to, so
    that one failure does not fail the tests after it (the tests that kill a restore
    leave the data as it was, or fail)."""
    yield restore_bench
    database = restore_bench.jobs.database
    database.sql(f"ALTER DATABASE {DATABASE} CONNECTION LIMIT -1", database="postgres")
    (restore_bench.jobs.backup_dir / ".connection-limit").unlink(missing_ok=True)
    if database.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'reporting'") == "0":
        database.sql(READER_ROLE)


def _app_is_kept_out(database: Deployed) -> bool:
    """The app's role can make nothing the restore's table locks do not cover: it cannot
    even log in (a new table, a large object)."""
    attempt = database.tcp(
        "CREATE TABLE sneaked_in (i int); SELECT lo_from_bytea(0, 'sneaked in')",
        user=APP_USER,
        password=database.passwords["password"],
    )
    return attempt.returncode != 0 and "too many connections" in attempt.stderr


def _connection_limit(database: Deployed) -> str:
    return database.sql(
        f"SELECT datconnlimit FROM pg_database WHERE datname = '{DATABASE}'", database="postgres"
    )


@pytest.mark.parametrize("phase", PHASES)
def test_a_restore_killed_at_any_phase_leaves_the_database_as_it_was(
    bench: Bench, phase: str
) -> None:
    """With the app writing all along: while the restore runs, the app cannot log in
    (nor make a table or a large object); once the restore is killed (SIGKILL to all of
    it, as when its container ends: no trap runs), the database is exactly as before, the
    writes committed before it included, and it stays closed, with the limit it had on
    the volume. The next run on the volume opens it again (shown after the last phase,
    where the whole restore had reached the server: the repair is the same for all)."""
    jobs, database = bench.jobs, bench.jobs.database
    before = database.fingerprint(without=("writes",))
    restore = jobs.restore_pod(bench.dump)
    with _writing(jobs, f"killed-{phase}") as writer:
        overrides = bench.pausing_overrides(restore, "restore", phase)
        with _running(jobs, restore, "restore", overrides) as process:
            bench.wait_for_pause(process, "restore", phase)
            assert _app_is_kept_out(database)
            _writes_are_kept_out(writer)
            assert process.poll() is None, jobs.output("restore")
        assert database.fingerprint(without=("writes",)) == before, jobs.output("restore")
        assert _connection_limit(database) == "0"
        assert (jobs.backup_dir / ".connection-limit").read_text() == "-1\n"
        if phase == "after the last statement":
            count = len(writer.notes())
            # KEEP: the bench's dump must outlive these runs.
            repair = jobs.step(jobs.backup, "dump", {"KEEP": "100"})
            assert repair.returncode == 0, describe(repair)
            assert f"{DATABASE} takes connections again (connection limit -1)" in repair.stdout
            assert _connection_limit(database) == "-1"
            assert not (jobs.backup_dir / ".connection-limit").exists()
            _wait_for("the writer going on", lambda: len(writer.notes()) > count + 3)
        else:
            database.sql(f"ALTER DATABASE {DATABASE} CONNECTION LIMIT -1", database="postgres")
        notes = writer.stop()
    assert database.fingerprint(without=("writes",)) == before
    stored = set(database.sql("SELECT note FROM writes", user=APP_USER).split("\n"))
    assert set(notes) <= stored, "a committed write was lost"
    assert database.sql("SELECT to_regclass('sneaked_in') IS NULL") == "t"


def _restore_sessions(database: Deployed) -> str:
    return database.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'webapp-restore' "
        f"AND datname = '{DATABASE}'",
        database="postgres",
    )


def test_a_restore_whose_client_is_lost_frees_the_tables_and_the_next_run_ends_it(
    bench: Bench, tmp_path: Path
) -> None:
    """A node lost with the restore's pod, or the network cut: the restore's session would
    sit idle in its transaction, the app's tables locked, until TCP noticed (hours). The
    server ends it after IDLE_SECONDS (rolling it back); and the next run on the volume
    ends any restore session left before it opens the database again."""
    jobs, database = bench.jobs, bench.jobs.database
    before = database.fingerprint(without=("writes",))
    restore = jobs.restore_pod(bench.dump)
    # Between two statements: pg_restore sends nothing, the session is idle in the
    # transaction (in the middle of a COPY it is not idle, and only keepalives tell).
    phase = "during the indexes and constraints"
    overrides = {**bench.pausing_overrides(restore, "restore", phase), "IDLE_SECONDS": "2"}
    with _running(jobs, restore, "restore", overrides) as process:
        bench.wait_for_pause(process, "restore", phase)
        _wait_for("the server ending the idle restore", lambda: _restore_sessions(database) == "0")
        assert database.fingerprint(without=("writes",)) == before
    overrides = bench.pausing_overrides(restore, "restore", phase)
    with _running(jobs, restore, "restore", overrides) as process:
        bench.wait_for_pause(process, "restore", phase)
        time.sleep(3)
        assert _restore_sessions(database) == "1", "the default bound is minutes, not seconds"
        # The next backup, where the volume went with its new node (the lost pod's lock of
        # the volume went with the old node).
        moved = owned_dir(tmp_path / "moved-volume")
        gate = moved / ".connection-limit"
        gate.write_bytes((jobs.backup_dir / ".connection-limit").read_bytes())
        owned_file(gate)
        repair = replace(jobs, backup_dir=moved).step(jobs.backup, "dump")
        assert repair.returncode == 0, describe(repair)
        assert f"{DATABASE} takes connections again" in repair.stdout
        assert _restore_sessions(database) == "0"
        assert database.fingerprint(without=("writes",)) == before


@pytest.mark.parametrize("phase", ["before it began", "during the large objects"])
def test_a_restore_stopped_by_sigterm_rolls_back_and_opens_the_database_at_once(
    bench: Bench, phase: str
) -> None:
    """The Job's deadline or the pod's deletion: SIGTERM to the container's first process,
    SIGKILL once the pod's grace period is over. Well within that period the restore ends
    its transaction, sets back the connection limit it found, says so and that nothing
    was changed, and leaves no process behind; the app writes again at once."""
    jobs, database = bench.jobs, bench.jobs.database
    database.sql(f"ALTER DATABASE {DATABASE} CONNECTION LIMIT 40", database="postgres")
    before = database.fingerprint(without=("writes",))
    restore = jobs.restore_pod(bench.dump)
    grace = restore.template["spec"]["terminationGracePeriodSeconds"]
    with _writing(jobs, f"stopped-{phase}") as writer:
        overrides = bench.pausing_overrides(restore, "restore", phase)
        with _running(jobs, restore, "restore", overrides) as process:
            bench.wait_for_pause(process, "restore", phase)
            _writes_are_kept_out(writer)
            stopped = time.monotonic()
            os.kill(process.pid, signal.SIGTERM)
            process.wait(grace)
            took = time.monotonic() - stopped
            _wait_for("the restore's processes gone", lambda: not session_members(process.pid))
        output = jobs.output("restore")
        assert process.returncode != 0, output
        assert took < grace / 4, f"{took:.1f} s after SIGTERM, of a grace period of {grace} s"
        assert f"{DATABASE} takes connections again (connection limit 40)" in output
        last = output.strip().splitlines()[-1]
        assert "stopped by SIGTERM: the Job's deadline passed or its pod was deleted" in last
        if phase == "before it began":
            assert last.endswith(
                "failed before it began (stopped by SIGTERM: the Job's "
                "deadline passed or its pod was deleted); nothing was changed"
            ), last
        else:
            assert "; nothing was changed: transaction " in last and last.endswith(" rolled back")
        assert _connection_limit(database) == "40"
        assert not (jobs.backup_dir / ".connection-limit").exists()
        count = len(writer.notes())
        _wait_for("the writer going on", lambda: len(writer.notes()) > count + 3)
        notes = writer.stop()
    assert database.fingerprint(without=("writes",)) == before
    stored = set(database.sql("SELECT note FROM writes", user=APP_USER).split("\n"))
    assert set(notes) <= stored, "a committed write was lost"


@pytest.mark.parametrize("phase", PHASES)
def test_a_backup_killed_at_any_phase_of_its_trial_restore_leaves_everything_as_it_was(
    bench: Bench, phase: str
) -> None:
    """With the app writing all along (the dump holds large objects, a materialized
    view, grants to a role and a partitioned table): the backup never stops the writer,
    a backup killed in its trial restore leaves no dump that counts, the live database
    as it was and every committed write in it, and the next backup is verified (shown
    after the last phase)."""
    jobs, database = bench.jobs, bench.jobs.database
    before = database.fingerprint(without=("writes",))
    dumps = jobs.local_dumps()
    with _writing(jobs, f"backup-{phase}") as writer:
        overrides = {**bench.pausing_overrides(jobs.backup, "dump", phase), "KEEP": "100"}
        with _running(jobs, jobs.backup, "dump", overrides) as process:
            bench.wait_for_pause(process, "dump", phase)
            count = len(writer.notes())
            _wait_for(
                "the writer going on during the backup", lambda: len(writer.notes()) > count + 3
            )
        assert jobs.local_dumps() == dumps, "a killed backup left a dump"
        notes = writer.stop()
    assert database.fingerprint(without=("writes",)) == before
    stored = set(database.sql("SELECT note FROM writes", user=APP_USER).split("\n"))
    assert set(notes) <= stored, "a committed write was lost"
    if phase == "after the last statement":
        after = jobs.step(jobs.backup, "dump", {"KEEP": "100"})
        assert after.returncode == 0, describe(after)
        assert "backup written and verified" in after.stdout
        assert not [p for p in jobs.backup_dir.iterdir() if p.name.endswith(".partial")]


def test_a_complete_restore_under_load_equals_the_dump_and_keeps_later_writes(
    bench: Bench,
) -> None:
    jobs, database = bench.jobs, bench.jobs.database
    # A limit of the user's own: the restore sets back what it found.
    database.sql(f"ALTER DATABASE {DATABASE} CONNECTION LIMIT 40", database="postgres")
    with _writing(jobs, "complete") as writer:
        result = jobs.step(jobs.restore_pod(bench.dump), "restore")
        assert f"{DATABASE} takes connections again (connection limit 40)" in result.stdout
        assert _connection_limit(database) == "40"
        count = len(writer.notes())
        _wait_for("the writer going on", lambda: len(writer.notes()) > count + 3)
        notes = writer.stop()
    assert result.returncode == 0, describe(result)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"restored {bench.dump} into {DATABASE} (transaction "), last
    assert last.endswith(" committed)"), last
    assert database.fingerprint(without=("writes",)) == bench.dumped
    stored = set(database.sql("SELECT note FROM writes", user=APP_USER).split("\n"))
    assert bench.dumped_notes <= stored
    # What the writer committed before the restore is gone with the rest of that state,
    # and everything from the moment it got in again is kept: the notes are a suffix.
    later = stored - bench.dumped_notes
    assert later, "the writer never got in after the restore"
    first = min(notes.index(note) for note in later)
    assert later == set(notes[first:])


def test_a_restore_that_fails_at_its_last_grant_changes_nothing_and_says_so(
    bench: Bench,
) -> None:
    jobs, database = bench.jobs, bench.jobs.database
    database.sql("INSERT INTO events (payload) VALUES ('after the restore')", user=APP_USER)
    database.sql("DROP OWNED BY reporting; DROP ROLE reporting")
    before = database.fingerprint()
    result = jobs.step(jobs.restore_pod(bench.dump), "restore")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert 'role "reporting" does not exist' in last, describe(result)
    assert last.endswith(" rolled back"), last
    assert "nothing was changed: transaction " in last
    assert database.fingerprint() == before


# --- backups that count only once shown restorable ----------------------------------------


def _fake_dump(
    jobs: Jobs,
    name: str,
    sequence: int | None,
    data: bytes = b"an older dump",
    *,
    flagged: bool = False,
) -> None:
    """A dump of an earlier run: its bytes, checksum and (with a sequence) its record:
    verified, or flagged."""
    path = jobs.backup_dir / name
    path.write_bytes(data)
    (jobs.backup_dir / f"{name}.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    files = [path, jobs.backup_dir / f"{name}.sha256"]
    if sequence is not None:
        kind, reason = (
            ("unverified", "not verified: an earlier run\n") if flagged else ("verified", "")
        )
        record = jobs.backup_dir / f"{name}.{kind}"
        record.write_text(f"{reason}sequence {sequence}\nmade 2026-11-01T03:00:00Z\n")
        files.append(record)
    for file in files:
        owned_file(file)


def _volume(jobs: Jobs) -> list[str]:
    """Every file on the backup volume but its lock and the restores' directory."""
    return sorted(p.name for p in jobs.backup_dir.iterdir() if p.name not in (".lock", "restore"))


def _a_second_after(name: str) -> None:
    """Until the clock is past the second in a dump's name: dump names carry the second."""
    stamp = name.rsplit("-", 1)[-1].removesuffix(".dump")
    _wait_for(
        "the next second",
        lambda: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) > stamp,
        seconds=5,
    )


def test_a_dump_that_would_not_restore_never_counts(jobs: Jobs) -> None:
    """The superuser made a schema for the app's tables: DROP OWNED keeps it, so every
    restore of a dump holding it would fail. The backup says so, keeps nothing new and
    deletes nothing."""
    kept = f"{DATABASE}-20261101T030000Z.dump"
    _fake_dump(jobs, kept, 1)
    before = sorted(p.name for p in jobs.backup_dir.iterdir() if p.name != ".lock")
    jobs.database.sql(f"CREATE SCHEMA reports; GRANT ALL ON SCHEMA reports TO {APP_USER}")
    jobs.database.sql("CREATE TABLE reports.daily (d date)", user=APP_USER)
    # Every other kind of object a dump holds and the superuser may own in the app's
    # database, readable by the app's role, so that its dump holds them too.
    jobs.database.sql(
        "CREATE FUNCTION helper(int, text) RETURNS int LANGUAGE sql AS 'SELECT 1';"
        "CREATE DOMAIN code AS text CHECK (VALUE <> ''); CREATE TYPE shade AS ENUM ('dark');"
        "CREATE TABLE ledger (i int, j int); GRANT SELECT ON ledger TO app;"
        "CREATE MATERIALIZED VIEW ledger_sums AS SELECT sum(i) FROM ledger;"
        "GRANT SELECT ON ledger_sums TO app; CREATE COLLATION plain (locale = 'C');"
        "CREATE STATISTICS ledger_stats ON i, j FROM ledger;"
        "SELECT lo_create(777001); GRANT SELECT ON LARGE OBJECT 777001 TO app"
    )
    result = jobs.step(jobs.backup, "dump", {"KEEP": "1"})
    assert result.returncode != 0
    for found in (
        "schema reports belongs to postgres",
        "function public.helper(integer, text) belongs to postgres",
        "type public.code belongs to postgres",
        "type public.shade belongs to postgres",
        "public.ledger belongs to postgres",
        "public.ledger_sums belongs to postgres",
        "collation public.plain belongs to postgres",
        "statistics public.ledger_stats belongs to postgres",
        "large object 777001 belongs to postgres",
    ):
        assert found in result.stderr, describe(result)
    assert "nothing was deleted" in result.stderr
    assert sorted(p.name for p in jobs.backup_dir.iterdir() if p.name != ".lock") == before


def test_a_dump_with_an_extension_only_the_superuser_may_create_is_flagged(jobs: Jobs) -> None:
    """The superuser made an extension in the app's database that the scratch database
    lacks: the trial restore could not create it. The dump is kept, flagged with the
    reason, counts for nothing and is not uploaded; flagged dumps do not pile up (the
    newest KEEP stay, and only while fewer than KEEP verified dumps are newer), and a run
    that flags deletes nothing else. Once the superuser made the extension in the scratch
    database too, dumps are verified again."""
    scratch = f"{DATABASE}_restore_check"
    verified = f"{DATABASE}-20261101T030000Z.dump"
    _fake_dump(jobs, verified, 1)
    earlier = [f"{DATABASE}-2026110{day}T030000Z.dump" for day in range(2, KEEP + 2)]
    for sequence, name in enumerate(earlier, start=2):
        _fake_dump(jobs, name, sequence, flagged=True)
    jobs.database.sql("CREATE EXTENSION pg_stat_statements")
    flagged = jobs.step(jobs.backup, "dump")
    assert flagged.returncode != 0
    last = flagged.stderr.strip().splitlines()[-1]
    assert "uses the extension(s) pg_stat_statements, which only a superuser may create" in last
    assert f"psql -d {scratch} -c 'CREATE EXTENSION <name>'" in last, describe(flagged)
    (name,) = set(jobs.local_dumps()) - {verified, *earlier}
    record = (jobs.backup_dir / f"{name}.unverified").read_text()
    assert record.startswith("not verified: it needs the extension(s) pg_stat_statements")
    assert f"sequence {KEEP + 2}" in record.splitlines(), record
    assert f"flagged ({name}.unverified, sequence {KEEP + 2})" in last
    # The oldest flagged dump made way for the new one; the verified one is untouched.
    assert f"removed {earlier[0]} (sequence 2, flagged)" in flagged.stdout, describe(flagged)
    assert jobs.local_dumps() == sorted([verified, *earlier[1:], name])
    assert not (jobs.backup_dir / f"{earlier[0]}.unverified").exists()
    assert not (jobs.backup_dir / f"{name}.verified").exists()
    upload = jobs.step(jobs.backup, "upload")
    assert upload.returncode == 0 and jobs.remote_dumps() == [verified], describe(upload)
    # The flagged dump is good over the live database, which has the extension.
    restored = jobs.step(jobs.restore_pod(name), "restore")
    assert restored.returncode == 0, describe(restored)
    jobs.database.sql("CREATE EXTENSION pg_stat_statements", database=scratch)
    _a_second_after(name)
    again = jobs.step(jobs.backup, "dump", {"KEEP": "1"})
    assert again.returncode == 0, describe(again)
    assert "backup written and verified" in again.stdout
    # Counted for nothing and older than the newest verified dump: all flagged ones go.
    (new,) = jobs.local_dumps()
    assert _volume(jobs) == [new, f"{new}.sha256", f"{new}.verified"]


def test_retention_orders_by_the_recorded_sequence_and_counts_only_verified_dumps(
    jobs: Jobs,
) -> None:
    """The clock was set back: the dumps of the earlier runs have later names than the
    new one. Retention keeps the newest runs' dumps, counts only verified ones, and leaves
    what it did not make (no checksum, another name, an object without its .sha256)."""
    names = [f"{DATABASE}-2099010{day}T030000Z.dump" for day in range(1, 4)]
    for sequence, name in enumerate(reversed(names), start=1):  # day 3 is the oldest run
        _fake_dump(jobs, name, sequence)
        jobs.s3.put(jobs.bucket, f"dev/{name}", b"an older dump")
        jobs.s3.put(
            jobs.bucket, f"dev/{name}.sha256", (jobs.backup_dir / f"{name}.sha256").read_bytes()
        )
        jobs.s3.put(jobs.bucket, f"dev/{name}.verified", f"sequence {sequence}\n".encode())
    unverified = f"{DATABASE}-20260101T030000Z.dump"
    _fake_dump(jobs, unverified, None)  # a dump from before the records: counts for nothing
    handmade = jobs.backup_dir / "before-migration.dump"
    handmade.write_bytes(b"kept by hand")
    owned_file(handmade)
    jobs.s3.put(jobs.bucket, f"dev/{DATABASE}-20250101T030000Z.dump", b"copied in by hand")
    # Another stack's dump copied in with its checksum to be restored (the docs' recipe):
    # no record, so none of the runs' to count or delete.
    borrowed = f"{DATABASE}-20200101T030000Z.dump"
    jobs.s3.put(jobs.bucket, f"dev/{borrowed}", b"another stack's dump")
    digest = hashlib.sha256(b"another stack's dump").hexdigest()
    jobs.s3.put(jobs.bucket, f"dev/{borrowed}.sha256", f"{digest}  {borrowed}\n".encode())
    # What a delete request cut off leaves: the records of a dump that is gone.
    gone = f"dev/{DATABASE}-20240101T030000Z.dump"
    orphans = [f"{gone}.sha256", f"{gone}.verified"]
    for orphan in orphans:
        jobs.s3.put(jobs.bucket, orphan, b"sequence 1\n")
    jobs.backup_now({"KEEP": "2"})
    (new,) = set(jobs.local_dumps()) - set(names) - {unverified, handmade.name}
    # KEEP=2 verified: the new run's and the run before it (day 1, the newest run); the
    # unverified dump counted for nothing and, older than both, goes with the rest.
    assert jobs.local_dumps() == sorted([new, names[0], handmade.name])
    assert jobs.remote_dumps() == sorted([new, names[0], borrowed])
    assert f"dev/{DATABASE}-20250101T030000Z.dump" in jobs.s3.objects(jobs.bucket, "dev/")
    assert not set(orphans) & set(jobs.s3.objects(jobs.bucket, "dev/")), "records left behind"
    # A restore from the bucket of a dump it lacks names the dumps a restore can take
    # (with their checksum): not the object copied in by hand without one.
    wanted = f"s3://{jobs.bucket}/dev/{DATABASE}-20991231T000000Z.dump"
    download = jobs.step(jobs.restore_pod(wanted), "download")
    assert download.returncode != 0
    assert (
        f"(the dumps there with their checksum, the latest first: s3://{jobs.bucket}/dev/"
        f"{names[0]}, s3://{jobs.bucket}/dev/{new}, s3://{jobs.bucket}/dev/{borrowed}; set "
        "webapp:restoreFrom to one of them)"
    ) in download.stderr, describe(download)
    # The next run's sequence follows the newest record, not the latest name (the bucket
    # orders by the same records).
    _a_second_after(new)
    made = jobs.step(jobs.backup, "dump", {"KEEP": "2"})
    assert made.returncode == 0, describe(made)
    (newer,) = set(jobs.local_dumps()) - {new, names[0], unverified, handmade.name}
    assert jobs.local_dumps() == sorted([new, newer, handmade.name]), "the last run's dump stays"


# --- every wait bounded ------------------------------------------------------------------


def test_a_server_that_never_answers_fails_each_job_within_its_bound(
    jobs: Jobs, silent_server: int
) -> None:
    made = jobs.step(jobs.backup, "dump")
    assert made.returncode == 0, describe(made)
    (kept,) = jobs.local_dumps()
    bounds = {"WAIT_SECONDS": "1", "PGCONNECT_TIMEOUT": "1", "STATEMENT_SECONDS": "1"}
    for pod, step in ((jobs.backup, "dump"), (jobs.restore_pod(kept), "restore")):
        started = time.monotonic()
        result = jobs.step(pod, step, {"PGPORT": str(silent_server), **bounds}, timeout=60)
        assert result.returncode != 0
        assert time.monotonic() - started < 20
        assert "within 1s (each attempt bounded to 2s)" in result.stderr, describe(result)
    assert jobs.local_dumps() == [kept]
    started = time.monotonic()
    result = jobs.step(
        jobs.backup,
        "upload",
        {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{silent_server}", "S3_CALL_SECONDS": "2"},
        timeout=60,
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 20
    assert "each call bounded to 2s" in result.stderr, describe(result)
    assert jobs.local_dumps() == [kept]


def test_a_backup_in_the_second_of_another_takes_the_next_name(jobs: Jobs) -> None:
    """Dumps are named to the second: a backup started while this second's and the next
    one's names are taken (a manual backup right after the night's) waits for a free name
    instead of failing, and leaves the dumps already there alone."""
    now = time.time()
    taken = {
        f"{DATABASE}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now + offset))}.dump"
        for offset in (0, 1)
    }
    for name in taken:
        (jobs.backup_dir / name).write_bytes(b"made a moment ago")
        owned_file(jobs.backup_dir / name)
    result = jobs.step(jobs.backup, "dump")
    assert result.returncode == 0, describe(result)
    (new,) = set(jobs.local_dumps()) - taken
    assert new > max(taken)
    assert all((jobs.backup_dir / name).read_bytes() == b"made a moment ago" for name in taken)


# --- killed between the renames, large schemas, pg_dump 17's list ---------------------------

# An `mv` that does the rename, then SIGKILLs the script that ran it once the target ends
# with KILL_AFTER: a pod killed between two renames, where no trap runs.
KILLING_MV = r"""#!/bin/sh
/bin/mv "$@" || exit
case "$2" in *"$KILL_AFTER") kill -KILL "$PPID" ;; esac
"""


@pytest.mark.parametrize("after", [".dump.sha256", ".dump"], ids=["checksum", "dump"])
def test_a_backup_killed_between_its_renames_leaves_what_the_next_run_cleans(
    jobs: Jobs, tmp_path: Path, after: str
) -> None:
    """Killed after renaming the checksum, or the dump too: the next run removes a
    checksum without its dump; a dump without its record counts for nothing (it is not
    uploaded) and is pruned as such; no .partial file is left."""
    killing = _tool_dir(tmp_path / "killing", "mv", KILLING_MV)
    path = f"{killing}:{jobs.env(jobs.backup, 'dump')['PATH']}"
    killed = jobs.step(jobs.backup, "dump", {"PATH": path, "KILL_AFTER": after})
    assert killed.returncode == -signal.SIGKILL, describe(killed)
    left = sorted(p.name for p in jobs.backup_dir.iterdir() if p.name != ".lock")
    assert any(name.endswith(".partial") for name in left), left
    jobs.backup_now()
    names = sorted(p.name for p in jobs.backup_dir.iterdir() if p.name != ".lock")
    assert not [name for name in names if name.endswith(".partial")], names
    orphans = [n for n in names if n.endswith(".sha256") and n.removesuffix(".sha256") not in names]
    assert not orphans, names
    verified = [name for name in jobs.local_dumps() if f"{name}.verified" in names]
    assert len(verified) == 1
    assert jobs.remote_dumps() == verified, "only the verified dump is uploaded"
    if after == ".dump":
        (record_less,) = set(jobs.local_dumps()) - set(verified)
        assert f"{record_less}.sha256" in names and f"{record_less}.verified" not in names


LONG_NAME = "a_table_whose_name_is_long_enough_to_fill_the_list_"


def test_a_schema_of_a_thousand_tables_backs_up_and_restores(jobs: Jobs) -> None:
    """The dump's list of a thousand tables with long names is over the 128 KiB the
    kernel takes in one argument: the clash check reads it from a file."""
    jobs.database.sql(
        "DO $$ BEGIN FOR i IN 1..1000 LOOP EXECUTE format("
        "'CREATE TABLE %1$I (i int); COMMENT ON TABLE %1$I IS ''a table with a long name''', "
        f"'{LONG_NAME}' || i); END LOOP; END $$",
        user=APP_USER,
    )
    try:
        made = jobs.step(jobs.backup, "dump")
        assert made.returncode == 0, describe(made)
        listed = sum(p.stat().st_size for p in (jobs.tmp / "dump").rglob("backup.list.entries"))
        assert listed > 128 * 1024, "the list must not fit in one argument"
        (dump,) = jobs.local_dumps()
        restored = jobs.step(jobs.restore_pod(dump), "restore")
        assert restored.returncode == 0, describe(restored)
        count = f"SELECT count(*) FROM pg_class WHERE relname LIKE '{LONG_NAME}%' AND relkind = 'r'"
        assert jobs.database.sql(count) == "1000"
    finally:
        jobs.database.sql(
            "DO $$ DECLARE t text; BEGIN FOR t IN SELECT relname FROM pg_class WHERE relname "
            f"LIKE '{LONG_NAME}%' AND relkind = 'r' LOOP "
            "EXECUTE format('DROP TABLE %I', t); END LOOP; END $$",
            user=APP_USER,
        )


# A pg_restore whose --list shows the large objects as pg_dump 17 and later group them,
# one "BLOB METADATA" entry named <first>..<last> per owner; the rest runs unchanged (the
# list's lines are read back by their ids alone).
GROUPING_PG_RESTORE = r"""#!/bin/sh
case " $* " in *" --list "*) ;; *) exec "$REAL_PG_RESTORE" "$@" ;; esac
listed=$(mktemp)
"$REAL_PG_RESTORE" "$@" > "$listed" || exit
awk '
  NR == FNR { if ($4 == "BLOB" && $5 == "-") { if (!($7 in low)) low[$7] = $6; high[$7] = $6 }
    next }
  $4 == "BLOB" && $5 == "-" { if (!($7 in done)) { done[$7] = 1
      print $1, $2, $3, "BLOB METADATA -", low[$7] ".." high[$7], $7 }
    next }
  { print }' "$listed" "$listed"
rm -f "$listed"
"""


def test_large_objects_of_the_superuser_are_caught_in_pg_dump_17_s_groups(
    jobs: Jobs, tmp_path: Path
) -> None:
    grouping = _tool_dir(tmp_path / "grouping", "pg_restore", GROUPING_PG_RESTORE)
    oids = "'{778001,778002,778003}'::oid[]"
    jobs.database.sql(
        f"SELECT lo_create(oid) FROM unnest({oids}) oid;"
        "GRANT SELECT ON LARGE OBJECT 778001, 778002, 778003 TO app"
    )
    try:
        overrides = {
            "PATH": f"{grouping}:{jobs.env(jobs.backup, 'dump')['PATH']}",
            "REAL_PG_RESTORE": str(jobs.database.server.bindir / "pg_restore"),
            "KEEP": "1",
        }
        result = jobs.step(jobs.backup, "dump", overrides)
        (listed,) = (jobs.tmp / "dump").rglob("backup.list")
        assert " BLOB METADATA - 778001..778003 postgres" in listed.read_text()
        assert result.returncode != 0
        for oid in (778001, 778002, 778003):
            assert f"large object {oid} belongs to postgres" in result.stderr, describe(result)
    finally:
        jobs.database.sql(f"SELECT lo_unlink(oid) FROM unnest({oids}) oid")


# --- a full disk --------------------------------------------------------------------------


def test_a_full_volume_fails_the_backup_and_deletes_nothing(jobs: Jobs, tmp_path: Path) -> None:
    probe = jobs.step(jobs.backup, "dump")
    assert probe.returncode == 0, describe(probe)
    (first,) = jobs.local_dumps()
    size = (jobs.backup_dir / first).stat().st_size
    # Room for KEEP dumps and a half: the new dump does not fit beside KEEP earlier ones.
    with small_volume(tmp_path / "small", f"{(size * (2 * KEEP + 1) // 2) // 1024}k") as volume:
        jobs.backup_dir = volume
        for day in range(1, KEEP + 1):
            _fake_dump(jobs, f"{DATABASE}-2026110{day}T030000Z.dump", day, os.urandom(size))
        before = {p.name: p.read_bytes() for p in volume.iterdir() if p.name != ".lock"}
        result = jobs.step(jobs.backup, "dump")
        assert result.returncode != 0
        assert "is full; nothing was deleted" in result.stderr, describe(result)
        assert {p.name: p.read_bytes() for p in volume.iterdir() if p.name != ".lock"} == before
    # With room for KEEP + 1 the new dump is made, then the oldest goes.
    with small_volume(tmp_path / "room", f"{(size * (2 * KEEP + 3) // 2) // 1024}k") as volume:
        jobs.backup_dir = volume
        for day in range(1, KEEP + 1):
            _fake_dump(jobs, f"{DATABASE}-2026110{day}T030000Z.dump", day, os.urandom(size))
        result = jobs.step(jobs.backup, "dump")
        assert result.returncode == 0, describe(result)
        names = jobs.local_dumps()
        assert len(names) == KEEP and names[0].endswith("02T030000Z.dump"), names
        assert not [p for p in volume.iterdir() if p.name.endswith(".partial")]


# --- one job at a time on the volume ------------------------------------------------------


def test_backup_and_restore_take_turns_and_clean_only_their_own_files(jobs: Jobs) -> None:
    (jobs.backup_dir / ".lock").touch()
    owned_file(jobs.backup_dir / ".lock")
    running = jobs.backup_dir / f"{DATABASE}-20261101T030000Z.dump.partial"
    running.write_bytes(b"a dump being written")
    other = owned_dir(owned_dir(jobs.backup_dir / "restore") / "webapp-db-restore-0123456789")
    (other / "waiting.dump").write_bytes(b"another restore's download")
    # A run of another job holding the lock, as the scripts take it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
            " print('locked', flush=True); time.sleep(600)",
            str(jobs.backup_dir / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        for pod, step in ((jobs.backup, "dump"), (jobs.restore_pod("x.dump"), "restore")):
            result = jobs.step(pod, step, {"VOLUME_LOCK_SECONDS": "1"})
            assert result.returncode != 0
            assert "held" in result.stderr and "for over 1s; nothing was changed" in result.stderr
        assert running.exists(), "a running backup's file was deleted"
    finally:
        holder.kill()  # a killed run: its lock goes with it
        holder.wait()
    backup = jobs.step(jobs.backup, "dump")
    assert backup.returncode == 0, describe(backup)
    assert not running.exists(), "under the lock, a killed run's partial file is cleaned up"
    assert (other / "waiting.dump").exists(), "another restore's download was deleted"
    (name,) = jobs.local_dumps()
    upload = jobs.step(jobs.backup, "upload")
    assert upload.returncode == 0, describe(upload)
    restore = jobs.restore_pod(f"s3://{jobs.bucket}/dev/{name}")
    for step in ("download", "restore"):
        result = jobs.step(restore, step)
        assert result.returncode == 0, describe(result)
    assert (other / "waiting.dump").exists(), "another restore's download was deleted"
    assert [p.name for p in (jobs.backup_dir / "restore").iterdir()] == [other.name]
