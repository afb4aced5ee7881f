"""The database's pod scripts, as the program renders them, against a real PostgreSQL
server and a real S3 API on 127.0.0.1, run as an unprivileged user.

A stub that answers what a script expects proves nothing: only a real server shows a
restore that empties tables when cut off, a role that is still superuser, or a login
that needs no password.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    free_port,
    owned_dir,
    run_unprivileged,
    small_volume,
    start_postgres,
    unprivileged_ids,
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
"""


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

    def fingerprint(self, user: str = "postgres") -> str:
        """Every row, sequence, view, function, index, constraint and type of the app's
        database."""
        tables = self.sql(
            "SELECT c.oid::regclass FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relnamespace = 'public'::regnamespace ORDER BY c.relname",
            user=user,
        ).split()
        rows = [
            f"table {table} "
            + self.sql(
                "SELECT count(*) || ' ' || md5(coalesce(string_agg(row::text, ',' "
                f"ORDER BY row::text), '')) FROM {table} row",
                user=user,
            )
            for table in tables
        ]
        return "\n".join(rows) + "\n" + self.sql(DEFINITIONS, user=user)


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
    server.query(f"CREATE DATABASE {DATABASE}", user=bootstrap_user)
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

    def step(
        self,
        pod: RenderedPod,
        name: str,
        overrides: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
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
        return run_unprivileged(["/bin/sh", "-c", script(container)], env, timeout=timeout)

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
        "DROP VIEW big_orders; DROP TABLE orders, events, customers, measurements; "
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


def test_a_restore_killed_halfway_leaves_the_database_as_it_was(jobs: Jobs) -> None:
    database = jobs.database
    database.sql(_events(150_000), user=APP_USER)
    jobs.backup_now()
    (name,) = jobs.local_dumps()
    database.sql(
        "DELETE FROM orders WHERE id % 2 = 0; "
        "INSERT INTO events (payload) VALUES ('after the dump')",
        user=APP_USER,
    )
    before = database.fingerprint()

    restore = jobs.restore_pod(name)
    container = restore.container("restore")
    env = relocate(
        restore.env(container), {BACKUP_MOUNT: jobs.backup_dir, "/tmp": owned_dir(jobs.tmp / "r")}
    )
    env.update(
        PATH=database.server.client_env(APP_USER, None)["PATH"],
        PGHOST="127.0.0.1",
        PGPORT=str(database.server.port),
        LC_ALL="C.UTF-8",
    )
    uid, gid = unprivileged_ids()
    as_root = os.geteuid() == 0
    process = subprocess.Popen(
        ["/bin/sh", "-c", script(container)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=uid if as_root else None,
        group=gid if as_root else None,
        extra_groups=[] if as_root else None,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "COPY" not in database.sql(
            "SELECT string_agg(query, ' ') FROM pg_stat_activity "
            f"WHERE usename = '{APP_USER}' AND state = 'active'"
        ):
            assert process.poll() is None, "the restore finished before it could be cut off"
            assert time.monotonic() < deadline, "the restore never reached its COPY"
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 30
    while (
        database.sql(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{APP_USER}'") != "0"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert database.fingerprint() == before


def test_retention_keeps_the_newest_dumps_on_the_volume_and_in_the_bucket(jobs: Jobs) -> None:
    old = [f"{DATABASE}-2026110{day}T030000Z.dump" for day in range(1, 6)]
    for name in old:
        (jobs.backup_dir / name).write_bytes(b"an older dump")
        owned_file(jobs.backup_dir / name)
        jobs.s3.put(jobs.bucket, f"dev/{name}", b"an older dump")
    handmade = jobs.backup_dir / "before-migration.dump"
    handmade.write_bytes(b"kept by hand")
    owned_file(handmade)
    jobs.backup_now()
    (new,) = set(jobs.local_dumps()) - set(old) - {handmade.name}
    assert jobs.local_dumps() == sorted([*old[-(KEEP - 1) :], new, handmade.name])
    assert jobs.remote_dumps() == sorted([*old[-(KEEP - 1) :], new])


def test_a_nearly_full_volume_still_gets_its_new_dump(jobs: Jobs, tmp_path: Path) -> None:
    jobs.database.sql(_events(40_000), user=APP_USER)
    probe = jobs.step(jobs.backup, "dump")
    assert probe.returncode == 0, describe(probe)
    (first,) = jobs.local_dumps()
    size = (jobs.backup_dir / first).stat().st_size
    # Room for KEEP dumps and a half: full retention leaves it nearly full, and a dump
    # taken before pruning would not fit.
    with small_volume(tmp_path / "small", f"{(size * (2 * KEEP + 1) // 2) // 1024}k") as volume:
        jobs.backup_dir = volume
        for day in range(1, KEEP + 1):  # full retention, each as large as a real dump
            path = volume / f"{DATABASE}-2026110{day}T030000Z.dump"
            path.write_bytes(os.urandom(size))
            owned_file(path)
        result = jobs.step(jobs.backup, "dump")
        assert result.returncode == 0, describe(result)
        names = jobs.local_dumps()
        assert len(names) == KEEP and names[0].endswith("02T030000Z.dump"), names


def test_an_unreachable_database_fails_in_bounded_time_and_keeps_the_dumps(jobs: Jobs) -> None:
    kept = jobs.backup_dir / f"{DATABASE}-20261101T030000Z.dump"
    kept.write_bytes(b"an older dump")
    owned_file(kept)
    started = time.monotonic()
    result = jobs.step(
        jobs.backup, "dump", {"PGPORT": str(free_port()), "WAIT_SECONDS": "2"}, timeout=60
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert "could not log in to the database at" in result.stderr
    assert jobs.local_dumps() == [kept.name]


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
    before = jobs.database.fingerprint()
    missing = jobs.step(jobs.restore_pod(f"{DATABASE}-20991231T000000Z.dump"), "restore")
    assert missing.returncode != 0 and "no dump" in missing.stderr
    assert jobs.step(jobs.backup, "dump").returncode == 0
    (name,) = jobs.local_dumps()
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
    time.sleep(1)  # dump names carry the second
    jobs.backup_now()
    assert missed in jobs.remote_dumps() and len(jobs.remote_dumps()) == 2


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
