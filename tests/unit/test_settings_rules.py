"""The bad-input rules of the settings (docs/settings.md), one table per kind, one row per case.

Rule 1: a file the harness reads is a readable, regular UTF-8 text file, or the run stops naming
it. Rule 3: no message quotes a secret. Rule 4: no setting is silently ignored (the rules between
keys, tokens, the suite's own variables). tests/integration/test_bad_input.py runs the same
kinds through nox.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
import trustme

from contract.files import MAX_TEXT_BYTES
from tasks.settings import load_settings
from tasks.settings.errors import SettingsError
from tasks.settings.keys import SET_BY_THE_GATE

ROOT = Path(__file__).resolve().parents[2]
NOW = int(time.time())
SYSTEM_PYTHON = Path("/usr/bin/python3")


def token(sub: object, exp: object = NOW + 3600) -> str:
    return jwt.encode({"sub": sub, "exp": exp}, "k" * 32, algorithm="HS256")


def refused(root: Path, environ: dict[str, str] | None = None) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load_settings(root, environ or {})
    assert "\n" not in str(caught.value)
    return caught.value


# ---- rule 1: the files the harness reads --------------------------------------------------------

Make = Callable[[Path], object]


def raw(data: bytes) -> Make:
    return lambda path: path.write_bytes(data)


def folder(path: Path) -> None:
    path.mkdir()


def fifo(path: Path) -> None:
    os.mkfifo(path)


def broken_link(path: Path) -> None:
    path.symlink_to(path.with_name("nowhere"))


def device(path: Path) -> None:
    path.symlink_to("/dev/null")


FILES: list[tuple[str, str, Make, str]] = [
    # (id, file, how it is made, the problem named)
    ("latin-1", ".env", raw(b"MC_JWT_SECRET=caf\xe9\n"), "is not UTF-8 text (line 1, byte 0xe9)"),
    ("latin-1-line-3", ".env", raw(b"# a\nMC_USERS=3\n# caf\xe9\n"), "(line 3, byte 0xe9)"),
    ("utf-16", ".env", raw("MC_USERS=3\n".encode("utf-16")), "is not UTF-8 text"),
    ("nul-byte", ".env", raw(b"MC_USERS=3\x00\n"), "holds a NUL byte (line 1)"),
    ("folder", ".env", folder, "is a directory, not a file"),
    ("fifo", ".env", fifo, "is not a regular file"),
    ("device", ".env", device, "is not a regular file"),
    ("broken-link", ".env", broken_link, "is a broken symbolic link"),
    ("too-big", ".env", raw(b"#" * (MAX_TEXT_BYTES + 1)), "the limit is"),
    ("profile-latin-1", ".env.staging", raw(b"STAGING_PROBE_TIMEOUT=5 # \xff\n"), "not UTF-8"),
    ("profile-folder", ".env.local", folder, "is a directory, not a file"),
    ("profile-fifo", ".env.docker", fifo, "is not a regular file"),
]


@pytest.mark.parametrize(
    ("name", "make", "problem"), [r[1:] for r in FILES], ids=[r[0] for r in FILES]
)
def test_a_file_that_is_not_readable_utf8_text_stops_the_run_naming_it(
    tmp_path: Path, name: str, make: Make, problem: str
) -> None:
    make(tmp_path / name)
    error = refused(tmp_path)
    assert (error.where, error.key) == (f"file {name}", "")
    assert problem in error.problem
    assert str(error).startswith(f"bad settings file {name}: ")
    assert "caf" not in str(error)  # what the file holds is never shown


@pytest.mark.parametrize(
    "data",
    [b"\xef\xbb\xbfMC_USERS=3\n", b"MC_USERS=3\r\n", b"MC_USERS=3", b"\n\n# only\nMC_USERS=3\n"],
    ids=["bom", "crlf", "no-final-newline", "blank-lines"],
)
def test_text_in_any_of_the_usual_shapes_reads(tmp_path: Path, data: bytes) -> None:
    (tmp_path / ".env").write_bytes(data)
    assert load_settings(tmp_path, {}).users == 3


def test_an_unreadable_profile_is_named_not_a_traceback() -> None:
    """A permission check needs a user it applies to: the read runs as `nobody` (as root, mode 000
    does not stop a read), with the system Python, on a folder of its own in /tmp."""
    if os.geteuid() != 0:
        pytest.skip("dropping to nobody needs root (as a non-root user, chmod 000 is the test)")
    if not SYSTEM_PYTHON.exists() or not shutil.which("setpriv"):
        pytest.skip("needs /usr/bin/python3 and setpriv to read as nobody")
    root = Path(tempfile.mkdtemp(prefix="mc-unreadable-"))
    try:
        root.chmod(0o755)
        (root / ".env").write_text("MC_JWT_SECRET=unreadable-secret\n")
        (root / ".env").chmod(0o000)
        script = (
            "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path;"
            "from tasks.settings import load_settings\n"
            "from tasks.settings.errors import SettingsError\n"
            "try: load_settings(Path(sys.argv[2]), {})\n"
            "except SettingsError as exc: print(exc); raise SystemExit(3)"
        )
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        done = subprocess.run(
            [*as_nobody, str(SYSTEM_PYTHON), "-c", script, str(ROOT), str(root)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        shutil.rmtree(root)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.strip() == ("bad settings file .env: cannot be read (permission denied)"), (
        done.stderr
    )
    assert "Traceback" not in done.stderr


CA_BUNDLES: list[tuple[str, Make, str]] = [
    ("folder", folder, "'ca': is a directory, not a file"),
    ("fifo", fifo, "'ca': is not a regular file"),
    ("der-bytes", raw(b"0\x82\x03\x1e0\x82\x02\x06\xa0\x03"), "'ca': is not UTF-8 text"),
    ("not-pem", raw(b"# a README, not a certificate\n"), "'ca' holds no PEM CA certificate"),
    ("empty", raw(b""), "holds no PEM CA certificate"),
    ("broken-pem", raw(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
     "holds no PEM CA certificate"),
    ("broken-link", broken_link, "'ca': is a broken symbolic link"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "problem"), [r[1:] for r in CA_BUNDLES], ids=[r[0] for r in CA_BUNDLES]
)
def test_a_ca_bundle_must_be_a_pem_text_file(tmp_path: Path, make: Make, problem: str) -> None:
    make(tmp_path / "ca")
    error = refused(tmp_path, {"STAGING_CA_BUNDLE": "ca"})
    assert (error.key, error.where) == (
        "STAGING_CA_BUNDLE",
        "environment variable STAGING_CA_BUNDLE",
    )
    assert problem in error.problem


def test_a_real_ca_bundle_is_accepted(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    assert load_settings(tmp_path, {"STAGING_CA_BUNDLE": "ca.pem"}).staging_ca_bundle == "ca.pem"


# ---- rule 4: rules between keys -----------------------------------------------------------------

TOGETHER = [
    # (id, .env lines, environment, the key blamed, its source, what the message says)
    ("timeout-below-default-grace", [], {"MC_TIMEOUT": "0.1"}, "MC_TIMEOUT", "environment",
     "0.1 is less than MC_GRACE=1 (default)"),
    ("grace-above-default-timeout", [], {"MC_GRACE": "10.5"}, "MC_GRACE", "environment",
     "10.5 is more than MC_TIMEOUT=10 (default)"),
    ("grace-in-env-beats-timeout-in-file", ["MC_TIMEOUT=2"], {"MC_GRACE": "3"}, "MC_GRACE",
     "environment", "3 is more than MC_TIMEOUT=2 (file .env, line 1)"),
    ("timeout-in-env-beats-grace-in-file", ["MC_GRACE=3"], {"MC_TIMEOUT": "2"}, "MC_TIMEOUT",
     "environment", "2 is less than MC_GRACE=3 (file .env, line 1)"),
    ("both-in-one-layer-blames-grace", ["MC_GRACE=3", "MC_TIMEOUT=2"], {}, "MC_GRACE",
     "file .env, line 1", "raise MC_TIMEOUT or lower MC_GRACE"),
    ("run-timeout-below-timeout", [], {"MC_RUN_TIMEOUT": "5"}, "MC_RUN_TIMEOUT", "environment",
     "5 is less than MC_TIMEOUT=10 (default)"),
    ("timeout-above-run-timeout", [], {"MC_TIMEOUT": "121"}, "MC_TIMEOUT", "environment",
     "121 is more than MC_RUN_TIMEOUT=120 (default)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "environ", "key", "source", "says"),
    [r[1:] for r in TOGETHER],
    ids=[r[0] for r in TOGETHER],
)
def test_the_rules_between_keys_blame_the_key_set_last(
    tmp_path: Path, lines: list[str], environ: dict[str, str], key: str, source: str, says: str
) -> None:
    (tmp_path / ".env").write_text("".join(f"{line}\n" for line in lines))
    error = refused(tmp_path, environ)
    assert error.key == key
    assert error.where.startswith(source)
    assert says in error.problem


@pytest.mark.parametrize(
    "environ",
    [
        {"MC_GRACE": "10"},
        {"MC_GRACE": "0", "MC_TIMEOUT": "0.1"},
        {"MC_TIMEOUT": "120"},
        {"MC_TIMEOUT": "600", "MC_RUN_TIMEOUT": "3600", "MC_GRACE": "600"},
    ],
    ids=["grace-equals-timeout", "smallest", "timeout-equals-run", "largest"],
)
def test_the_edges_of_the_rules_between_keys_are_allowed(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    load_settings(tmp_path, environ)


# ---- rule 4: tokens -----------------------------------------------------------------------------


def b64(part: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


TOKENS = [
    # (id, STAGING_TOKENS, what the message says)
    ("same-user", [token("u1"), token("u2"), token("u1")],
     "STAGING_TOKENS[0] and STAGING_TOKENS[2] are tokens for the same user (sub='u1')"),
    ("expired", [token("u1"), token("old", NOW - 10)], "STAGING_TOKENS[1] (sub='old') has expired"),
    ("two-parts", ["aaaaaaaaaa.bbbbbbbbbbbb"], "STAGING_TOKENS[0] is not a JWT"),
    ("not-base64-json", ["not.a.jwt"], "STAGING_TOKENS[0] is not a JWT"),
    ("claims-a-list", [f"{b64({'alg': 'none'})}.{b64([1])}."], "is not a JWT"),
    ("no-sub", [f"{b64({'alg': 'none'})}.{b64({'exp': NOW + 60})}."], "has no string 'sub'"),
    ("numeric-sub", [token(7)], "STAGING_TOKENS[0] has no string 'sub'"),
    ("empty-sub", [token("")], "has no string 'sub'"),
]  # fmt: skip


@pytest.mark.parametrize(("tokens", "says"), [r[1:] for r in TOKENS], ids=[r[0] for r in TOKENS])
def test_static_tokens_are_one_valid_jwt_per_user(
    tmp_path: Path, tokens: list[str], says: str
) -> None:
    error = refused(tmp_path, {"STAGING_TOKENS": ",".join(tokens)})
    assert error.key == "STAGING_TOKENS"
    assert says in error.problem
    assert "MC_TOKENS" not in str(error)
    for value in tokens:
        assert value not in str(error)
        assert value.split(".")[-1] not in str(error) or not value.split(".")[-1]


EXPIRED = [
    ("not-expired", token("u", NOW + 60), "has not expired"),
    ("no-exp", jwt.encode({"sub": "u"}, "k" * 32, algorithm="HS256"), "has not expired"),
    ("not-a-jwt", "abc", "STAGING_EXPIRED_TOKEN is not a JWT"),
]


@pytest.mark.parametrize(("value", "says"), [r[1:] for r in EXPIRED], ids=[r[0] for r in EXPIRED])
def test_the_expired_token_must_have_expired(tmp_path: Path, value: str, says: str) -> None:
    error = refused(tmp_path, {"STAGING_EXPIRED_TOKEN": value})
    assert (error.key, says in error.problem, value in str(error)) == (
        "STAGING_EXPIRED_TOKEN",
        True,
        False,
    )


NO_EXP = [
    ("has-exp", token("u", NOW + 60), "has an 'exp' claim"),
    ("no-sub", jwt.encode({"iat": NOW}, "k" * 32, algorithm="HS256"), "has no string 'sub'"),
    ("not-a-jwt", "abc", "STAGING_NO_EXP_TOKEN is not a JWT"),
]


@pytest.mark.parametrize(("value", "says"), [r[1:] for r in NO_EXP], ids=[r[0] for r in NO_EXP])
def test_the_no_exp_token_has_no_exp(tmp_path: Path, value: str, says: str) -> None:
    error = refused(tmp_path, {"STAGING_NO_EXP_TOKEN": value})
    assert (error.key, says in error.problem, value in str(error)) == (
        "STAGING_NO_EXP_TOKEN",
        True,
        False,
    )


def test_valid_tokens_and_an_expired_one_are_accepted(tmp_path: Path) -> None:
    unsigned = f"{b64({'alg': 'none'})}.{b64({'sub': 'u3'})}."  # what the suite forges, too
    environ = {
        "STAGING_TOKENS": f"{token('u1')},{token('u2')},{unsigned}",
        "STAGING_EXPIRED_TOKEN": token("u1", NOW - 60),
        "STAGING_NO_EXP_TOKEN": jwt.encode({"sub": "u1"}, "k" * 32, algorithm="HS256"),
    }
    settings = load_settings(tmp_path, environ)
    assert len(settings.staging_tokens) == 3
    assert settings.staging_expired_token is not None
    assert settings.staging_no_exp_token is not None


# ---- rule 4: the suite's own variables ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SET_BY_THE_GATE))
def test_a_variable_the_gate_sets_itself_is_refused_naming_what_to_set(
    tmp_path: Path, name: str
) -> None:
    error = refused(tmp_path, {name: "ws://u:hunter2@h/ws?token=abc"})
    assert (error.key, error.where) == (name, f"environment variable {name}")
    assert SET_BY_THE_GATE[name] in error.problem
    assert "hunter2" not in str(error)
    assert load_settings(tmp_path, {name: " "}).users == 25  # set but empty: nothing to ignore


# ---- the team's own backend: a command for local, a compose stack for docker -------------------

TEAM = [
    ("command-without-port", {"MC_LOCAL_COMMAND": "uvicorn app:app --host {host}"},
     "MC_LOCAL_COMMAND", "has no {port} for the harness to fill in"),
    ("command-unbalanced-quote", {"MC_LOCAL_COMMAND": "run --port {port} 'oops"},
     "MC_LOCAL_COMMAND", "does not split as a shell would (No closing quotation)"),
    ("cwd-without-command", {"MC_LOCAL_CWD": "."}, "MC_LOCAL_CWD",
     "is for the team's command (MC_LOCAL_COMMAND), which is not set"),
    ("secret-env-without-command", {"MC_LOCAL_SECRET_ENV": "JWT"}, "MC_LOCAL_SECRET_ENV",
     "which is not set"),
    ("cwd-missing", {"MC_LOCAL_COMMAND": "x --port {port}", "MC_LOCAL_CWD": "nowhere"},
     "MC_LOCAL_CWD", "'nowhere': no such folder"),
    ("cwd-a-file", {"MC_LOCAL_COMMAND": "x --port {port}", "MC_LOCAL_CWD": "file"},
     "MC_LOCAL_CWD", "'file': is not a folder"),
    ("local-secret-env-not-a-name", {"MC_LOCAL_COMMAND": "x --port {port}",
     "MC_LOCAL_SECRET_ENV": "JWT-SECRET"}, "MC_LOCAL_SECRET_ENV",
     "'JWT-SECRET' is not a valid environment variable name"),
    ("docker-secret-env-not-a-name", {"MC_DOCKER_SECRET_ENV": "1SECRET"}, "MC_DOCKER_SECRET_ENV",
     "'1SECRET' is not a valid environment variable name"),
    ("docker-secret-env-a-gate-key", {"MC_DOCKER_SECRET_ENV": "MC_DOCKER_PORT"},
     "MC_DOCKER_SECRET_ENV", "is one of the gate's own variables"),
    ("compose-files-empty-entry", {"MC_DOCKER_COMPOSE_FILE": "a.yaml::b.yaml"},
     "MC_DOCKER_COMPOSE_FILE", "has an empty entry between colons"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "key", "says"), [t[1:] for t in TEAM], ids=[t[0] for t in TEAM]
)
def test_the_team_backend_keys_are_checked(
    tmp_path: Path, environ: dict[str, str], key: str, says: str
) -> None:
    (tmp_path / "file").write_text("x")
    error = refused(tmp_path, environ)
    assert error.key == key
    assert says in str(error)


def test_the_team_backend_keys_read_as_a_team_writes_them(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    settings = load_settings(
        tmp_path,
        {
            "MC_LOCAL_COMMAND": ".venv/bin/uvicorn 'app:app' --host {host} --port={port}",
            "MC_LOCAL_CWD": "backend",
            "MC_LOCAL_SECRET_ENV": "JWT_SECRET_KEY",
            "MC_DOCKER_COMPOSE_FILE": "../team/compose.yaml:../team/compose.gate.yaml",
            "MC_DOCKER_SECRET_ENV": "JWT_SECRET_KEY",
        },
    )
    assert settings.local_command == (
        ".venv/bin/uvicorn",
        "app:app",
        "--host",
        "{host}",
        "--port={port}",
    )
    assert settings.local_cwd == Path("backend")
    assert settings.local_secret_env == settings.docker_secret_env == "JWT_SECRET_KEY"
    assert settings.docker_compose_file == (
        Path("../team/compose.yaml"),
        Path("../team/compose.gate.yaml"),
    )
