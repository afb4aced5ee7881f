"""The real servers the script tests use do what those tests rely on."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
from pathlib import Path

import pytest

from tests.servers import (
    VENV_BIN,
    PostgresFactory,
    S3Server,
    aws_cli,
    aws_env,
    describe,
    missing,
    owned_dir,
    run_unprivileged,
    small_volume,
    unprivileged_ids,
    unreachable_endpoint_url,
)

BASE_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


def test_scripts_run_unprivileged_with_exactly_the_given_env(tmp_path: Path) -> None:
    work = owned_dir(tmp_path / "work")
    env = {**BASE_ENV, "HOME": str(work), "ONLY_THIS": "x"}
    result = run_unprivileged(["sh", "-c", 'id -u; id -G; env; touch "$HOME/f"'], env, timeout=10)
    assert result.returncode == 0, describe(result)
    uid, gid = unprivileged_ids()
    lines = result.stdout.splitlines()
    assert lines[0] == str(uid) != "0"
    assert lines[1] == str(gid)
    # sh adds PWD, SHLVL and _ itself; nothing comes from the test process.
    names = {line.split("=", 1)[0] for line in lines[2:]} - {"PWD", "SHLVL", "_"}
    assert names == set(env)
    assert (work / "f").stat().st_uid == uid


def test_missing_tools_skip_locally_and_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="thing: get it"):
        missing("thing", "get it")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="thing: get it"):
        missing("thing", "get it")


def test_scram_hba_refuses_tcp_without_the_password(
    postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    hba = owned_dir(tmp_path / "conf") / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    server = postgres_factory(hba_file=hba)
    assert server.query("SHOW hba_file", user="postgres") == str(hba.resolve())
    server.psql("CREATE ROLE app LOGIN PASSWORD 'right-password'", user="postgres")
    stored = server.query("SELECT rolpassword FROM pg_authid WHERE rolname='app'", user="postgres")
    assert stored.startswith("SCRAM-SHA-256$")

    no_password = server.psql("SELECT 1", user="app", tcp=True, check=False)
    assert no_password.returncode != 0
    assert "no password supplied" in no_password.stderr
    wrong = server.psql("SELECT 1", user="app", password="wrong", tcp=True, check=False)
    assert wrong.returncode != 0
    assert 'password authentication failed for user "app"' in wrong.stderr
    assert server.query("SELECT current_user", user="app", password="right-password", tcp=True) == (
        "app"
    )

    # What a script sees: libpq's variables only, over TCP.
    env = server.client_env("app", "right-password")
    script = run_unprivileged(
        ["psql", "-X", "-A", "-t", "-c", "SELECT current_user, inet_server_addr()"],
        env,
        timeout=30,
    )
    assert script.stdout.strip() == "app|127.0.0.1", describe(script)
    env["PGPASSWORD"] = "wrong"
    assert run_unprivileged(["psql", "-X", "-c", "SELECT 1"], env, timeout=30).returncode != 0


def test_bootstrap_user_is_the_only_superuser_and_the_server_is_not_root(
    postgres_factory: PostgresFactory,
) -> None:
    server = postgres_factory(bootstrap_user="cluster_admin")
    assert server.query("SELECT rolname FROM pg_roles WHERE rolsuper", user="cluster_admin") == (
        "cluster_admin"
    )
    refused = server.psql("SELECT 1", user="postgres", check=False)
    assert 'role "postgres" does not exist' in refused.stderr
    pid = server.postmaster_pid()
    assert pid is not None
    uid_line = next(
        line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line[:4] == "Uid:"
    )
    assert uid_line.split()[1:] == [str(unprivileged_ids()[0])] * 4


def test_kill_is_a_crash_and_start_recovers_committed_data(
    postgres_factory: PostgresFactory,
) -> None:
    server = postgres_factory()
    server.psql(
        "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 1000)", user="postgres"
    )
    server.kill()
    assert not server.running()
    server.start()
    assert server.query("SELECT count(*), sum(n) FROM t", user="postgres") == "1000|500500"
    assert "database system was interrupted" in server.log_text()
    assert "automatic recovery in progress" in server.log_text()
    server.stop()
    assert not server.running()


def test_aws_cli_upload_lands_in_moto_with_its_metadata(
    s3_server: S3Server, s3_bucket: str, unprivileged_tmp_path: Path
) -> None:
    data = os.urandom(200_000) + b"\x00\xff end"
    digest = hashlib.sha256(data).hexdigest()
    dump = unprivileged_tmp_path / "dump.bin"
    dump.write_bytes(data)
    env = {
        **aws_env(s3_server, f"s3://{s3_bucket}/backups"),
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(unprivileged_tmp_path),
        "LC_ALL": "C.UTF-8",
    }
    dump_key = "backups/dump.bin"
    url = f"s3://{s3_bucket}/{dump_key}"
    upload = run_unprivileged(
        ["aws", "s3", "cp", "--only-show-errors", "--metadata", f"sha256={digest}", str(dump), url],
        env,
        timeout=60,
    )
    assert upload.returncode == 0, describe(upload)
    # Path-style addressing: the bucket is in the path, not in a host name 127.0.0.1 lacks.
    assert f'"PUT /{s3_bucket}/{dump_key} ' in s3_server.log_path.read_text()
    assert s3_server.objects(s3_bucket, "backups/") == {dump_key: data}
    assert s3_server.head(s3_bucket, dump_key)["Metadata"] == {"sha256": digest}

    head = run_unprivileged(
        [str(aws_cli()), "s3api", "head-object", "--bucket", s3_bucket, "--key", dump_key],
        env,
        timeout=60,
    )
    assert head.returncode == 0, describe(head)
    assert json.loads(head.stdout)["Metadata"] == {"sha256": digest}
    assert json.loads(head.stdout)["ContentLength"] == len(data)


def test_unreachable_endpoint_refuses_connections() -> None:
    host, port = unreachable_endpoint_url().removeprefix("http://").split(":")
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect((host, int(port)))


def test_small_volume_runs_out_of_space(tmp_path: Path) -> None:
    with small_volume(tmp_path / "volume", "1m") as volume:
        assert os.path.ismount(volume)
        fits = run_unprivileged(
            ["dd", "if=/dev/zero", f"of={volume}/fits", "bs=64k", "count=4"], BASE_ENV, timeout=10
        )
        assert fits.returncode == 0, describe(fits)
        too_big = run_unprivileged(
            ["dd", "if=/dev/zero", f"of={volume}/too-big", "bs=64k", "count=32"],
            BASE_ENV,
            timeout=10,
        )
        assert too_big.returncode != 0
        assert os.strerror(errno.ENOSPC) in too_big.stderr
    assert not os.path.ismount(volume)
