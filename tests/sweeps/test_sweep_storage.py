"""`dnnconf sweep` as users run it across machines: Optuna or a database driver missing (one line, a hint
that works), and two sweep commands sharing one study on a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

SRC = str(Path(__file__).parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
BASE = {"name": "digits-sweep", "data": {"dataset": "digits", "valid_size": 0.15}, "model": {"hidden": [16]},
        "schedule": {"name": "constant"}, "training": {"epochs": 1, "batch_size": 64}}
SPACE = {"optimizer.learning_rate": {"type": "float", "low": 1.0e-3, "high": 0.1, "log": True}}


def files(tmp_path: Path) -> tuple[str, str]:
    config, space = tmp_path / "base.yaml", tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump(BASE))
    space.write_text(yaml.safe_dump(SPACE))
    return str(config), str(space)


def sweep_without(modules: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`dnnconf sweep ARGS` in a process where `modules` cannot be imported (as if not installed)."""
    code = (f"import sys; sys.modules.update(dict.fromkeys({modules!r}))\n"
            "from dnnconf.cli import main; sys.exit(main(['sweep', *sys.argv[1:]]))")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=300)


def test_without_optuna_one_line_with_the_install_command(tmp_path):
    config, space = files(tmp_path)
    done = sweep_without(["optuna"], [config, "--space", space, "--trials", "1", "--out", "s"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "needs Optuna, which is not installed: pip install 'optuna>=5,<6'" in done.stderr
    assert "pip install -e '.[sweep]'" in done.stderr
    assert not (tmp_path / "s").exists()


def test_a_missing_postgresql_driver_names_the_one_sqlalchemy_uses(tmp_path):
    pytest.importorskip("optuna")
    from sqlalchemy.engine import make_url

    from dnnconf.sweeps.study import DRIVER_PACKAGES

    driver = make_url("postgresql://u:p@h/db").get_dialect().driver  # psycopg2 on SQLAlchemy 2.0, psycopg on 2.1
    config, space = files(tmp_path)
    args = [config, "--space", space, "--trials", "1", "--out", "s", "--storage",
            "postgresql://optuna:secret@127.0.0.1:9/optuna"]
    done = sweep_without([driver, "psycopg", "psycopg2", "pg8000"], args, tmp_path)  # every driver missing
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "secret" not in done.stderr
    assert f"opens postgresql:// with the {driver} driver, which is not installed: pip install " \
           f"'{DRIVER_PACKAGES[driver]}'" in done.stderr


def test_postgresql_urls_take_whichever_driver_is_installed(monkeypatch):
    pytest.importorskip("optuna")
    from sqlalchemy.engine import make_url

    from dnnconf.sweeps import study as sweep_study

    url = "postgresql://optuna:secret@db.example.org:5432/optuna"
    default = make_url(url).get_dialect().driver
    monkeypatch.setattr(sweep_study, "installed", lambda module: module == "psycopg2")
    expected = url if default == "psycopg2" else url.replace("postgresql://", "postgresql+psycopg2://")
    assert sweep_study.with_installed_driver(url) == expected
    monkeypatch.setattr(sweep_study, "installed", lambda module: module == "psycopg")
    expected = url if default == "psycopg" else url.replace("postgresql://", "postgresql+psycopg://")
    assert sweep_study.with_installed_driver(url) == expected
    monkeypatch.setattr(sweep_study, "installed", lambda module: False)
    assert sweep_study.with_installed_driver(url) == url  # open_study then says what to install
    for other in ("postgresql+psycopg2://u@h/d", "sqlite:///x.db", "mysql+pymysql://u@h/d"):
        assert sweep_study.with_installed_driver(other) == other


# ---------------------------------------------------------------------- a real PostgreSQL server


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin."""
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                      None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A private PostgreSQL cluster on a free local port, in a temporary folder, with a role `optuna`
    (password `secret`, checked over TCP) and a database `optuna`; stopped and removed afterwards."""
    pytest.importorskip("optuna")
    from dnnconf.sweeps.study import installed

    programs = {name: postgres_program(name) for name in ("initdb", "pg_ctl", "createdb")}
    if not all(programs.values()):
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; `make test` does it)")
    if not any(installed(module) for module in ("psycopg", "psycopg2")):
        pytest.skip("no PostgreSQL driver for SQLAlchemy: pip install -e '.[sweep]'")
    folder = Path(tempfile.mkdtemp(prefix="dnnconf-pg-"))
    as_server = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the `postgres` user
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root, and there is no `postgres` user to run the server as")
        if not shutil.which("runuser"):
            shutil.rmtree(folder)
            pytest.skip("running as root without runuser to start the server as `postgres`")
        os.chown(folder, account.pw_uid, account.pw_gid)
        as_server = ["runuser", "-u", "postgres", "--"]
    password = folder / "password"
    password.write_text("secret\n")
    if as_server:
        os.chown(password, account.pw_uid, account.pw_gid)
    port, data = free_port(), folder / "data"

    def run(*command: str) -> None:
        done = subprocess.run([*as_server, *command], capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            log = (folder / "server.log").read_text()[-500:] if (folder / "server.log").exists() else ""
            pytest.skip(f"PostgreSQL could not start: {Path(command[0]).name} said "
                        f"{(done.stderr or done.stdout).strip()[-300:]} {log}")

    try:
        run(programs["initdb"], "-D", str(data), "-U", "optuna", f"--pwfile={password}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8")
        run(programs["pg_ctl"], "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "120", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
        try:
            run(programs["createdb"], "-h", str(folder), "-p", str(port), "-U", "optuna", "optuna")
            yield f"postgresql://optuna:secret@127.0.0.1:{port}/optuna"
        finally:
            subprocess.run([*as_server, programs["pg_ctl"], "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=120)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_two_sweep_commands_share_one_study_on_a_postgresql_server(tmp_path, postgres_url):
    """The README's command for machines sharing a study, run twice at once as two machines would (one
    with --jobs 2, one with --jobs 1): every trial lands in the one study, each command writes its summary."""
    import optuna

    config, space = files(tmp_path)

    def command(trials: int, jobs: int, out: str) -> list[str]:
        return [sys.executable, "-m", "dnnconf", "sweep", config, "--space", space, "--trials", str(trials),
                "--jobs", str(jobs), "--study-name", "fmnist-v1", "--storage", postgres_url, "--out", out,
                "--seed", str(jobs)]

    machines = [subprocess.Popen(command(2, 2, "runs/sweep-a"), cwd=tmp_path, env=ENV, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                subprocess.Popen(command(1, 1, "runs/sweep-b"), cwd=tmp_path, env=ENV, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    outputs = [machine.communicate(timeout=900) for machine in machines]
    for machine, (stdout, stderr) in zip(machines, outputs, strict=True):
        assert machine.returncode == 0, stdout + stderr
        assert "secret" not in stdout + stderr  # the password never shows
    study = optuna.load_study(study_name="fmnist-v1", storage=postgres_url)
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state.is_finished() for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2
    folders = sorted(p.name for p in (tmp_path / "runs").glob("sweep-*/trial-*"))
    assert len(folders) == 3 and len(set(folders)) == 3  # trial numbers come from the one shared study
    for out in ("sweep-a", "sweep-b"):
        assert (tmp_path / "runs" / out / "best.yaml").is_file()
        assert (tmp_path / "runs" / out / "trials.csv").is_file()
