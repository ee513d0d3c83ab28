"""Bad input as a new user gives it (issue 12), through real `nox -s mission_critical-*`, the other
sessions and invoke: one row per case, grouped by the four rules of docs/settings.md.

Every row must end with a non-zero exit and one line naming the file, key, URL or argument, with
no traceback, no secret, nothing started and nothing written. Each row runs in a throwaway
checkout of its own (tests/integration/checkout.py), so a broken `.env` never touches the real
one, and all rows run at once in a thread pool: a new case is one more row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import jwt
import pytest

from tests.integration.checkout import Case, Dir, Fifo, Link, Outcome, Table, run_case

SECRET = "s3cr3t-Never-Shown-0123456789abcdef"
PASSWORD = "Pw0rd-Never-Shown"
NOW = int(time.time())
NOTHING_STARTED = ("starting the reference backend", "Probing staging", "docker: starting stack")
STAGING = {"STAGING_WEBSOCKET_URL": "wss://staging.invalid/ws", "STAGING_JWT_SECRET": SECRET}


def token(sub: str, exp: int = NOW + 3600) -> str:
    return jwt.encode({"sub": sub, "exp": exp}, SECRET, algorithm="HS256")


T1, T2, OLD = token("user-1"), token("user-2"), token("user-old", NOW - 60)


def row(case_id: str, *says: str, **rest: object) -> Case:
    """One case: its id, what the one line of its reason says, and how it is set up."""
    return Case(case_id, says, **rest)  # type: ignore[arg-type]


def staging(case_id: str, *says: str, **rest: object) -> Case:
    """A row run as `nox -s mission_critical-staging`."""
    return row(case_id, *says, command=("nox", "mission_critical-staging"), **rest)


README = {"README.md": "# a file, where a folder was named\n"}
LOCAL_URL = "ws://127.0.0.1:9/ws"
LONG_URL = "https://h/" + "a" * 100_000 + f"?token={SECRET}"

# ---- rule 1: a file the harness reads is readable, regular UTF-8 text, or it is named ----------
FILES = [
    row("env-latin-1", "bad settings file .env", "is not UTF-8 text (line 1, byte 0xe9)",
         files={".env": b"MC_JWT_SECRET=caf\xe9\n"}, hidden=("caf",)),
    row("env-latin-1-line-3", "bad settings file .env", "(line 3, byte 0xff)",
         files={".env": b"# ok\nMC_USERS=3\nMC_JWT_SECRET=\xff" + SECRET.encode()},
         hidden=(SECRET,)),
    row("env-nul-byte", "bad settings file .env", "holds a NUL byte (line 1)",
         files={".env": f"MC_JWT_SECRET={SECRET}\x00\n"}, hidden=(SECRET,)),
    row("env-folder", "bad settings file .env", "is a directory, not a file",
         files={".env": Dir()}),
    row("env-fifo", "bad settings file .env", "is not a regular file", files={".env": Fifo()}),
    row("env-device", "bad settings file .env", "is not a regular file",
         files={".env": Link("/dev/zero")}),
    row("env-broken-link", "bad settings file .env", "is a broken symbolic link",
         files={".env": Link("nowhere/.env")}),
    row("env-too-big", "bad settings file .env", "bytes; the limit is 1048576",
         files={".env": "# padding\n" * 200_000}),
    row("staging-profile-utf-16", "bad settings file .env.staging", "is not UTF-8 text",
         files={".env.staging": "STAGING_PROBE_TIMEOUT=5\n".encode("utf-16")},
         command=("nox", "mission_critical-staging")),
    row("local-profile-folder", "bad settings file .env.local", "is a directory",
         files={".env.local": Dir()}, command=("nox", "mission_critical-auto")),
    row("docker-profile-fifo", "bad settings file .env.docker", "is not a regular file",
         files={".env.docker": Fifo()}, command=("nox", "mission_critical-docker")),
    staging("ca-bundle-missing", "bad setting STAGING_CA_BUNDLE (environment variable",
            "'certs/missing.pem': no such file",
            env={**STAGING, "STAGING_CA_BUNDLE": "certs/missing.pem"}),
    staging("ca-bundle-folder", "bad setting STAGING_CA_BUNDLE", "'certs': is a directory",
            files={"certs": Dir()}, env={**STAGING, "STAGING_CA_BUNDLE": "certs"}),
    staging("ca-bundle-der", "bad setting STAGING_CA_BUNDLE", "'ca.der': is not UTF-8 text",
            files={"ca.der": b"0\x82\x03\x1e0\x82\x02\x06\xa0"},
            env={**STAGING, "STAGING_CA_BUNDLE": "ca.der"}),
    staging("ca-bundle-not-pem", "bad setting STAGING_CA_BUNDLE (file .env, line 3)",
            "'README.md' holds no PEM CA certificate",
            files={**README, ".env": "STAGING_WEBSOCKET_URL=wss://staging.invalid/ws\n"
                   "STAGING_JWT_SECRET=x\nSTAGING_CA_BUNDLE=README.md\n"}),
    staging("ca-bundle-fifo", "bad setting STAGING_CA_BUNDLE", "'ca.pem': is not a regular file",
            files={"ca.pem": Fifo()}, env={**STAGING, "STAGING_CA_BUNDLE": "ca.pem"}),
    row("probe-staging-env-latin-1", "bad settings file .env", "not UTF-8",
         files={".env": b"STAGING_JWT_SECRET=caf\xe9\n"}, command=("nox", "probe-staging")),
    row("docker-cleanup-env-folder", "bad settings file .env", "is a directory",
         files={".env": Dir()}, command=("nox", "docker_cleanup")),
    row("invoke-env-nul", "bad settings file .env", "holds a NUL byte",
         files={".env": "MC_USERS=3\x00\n"}, command=("inv", "gate.local")),
]  # fmt: skip

# ---- rule 2: every path the harness writes is checked before anything starts ------------------
WRITES = [
    row("report-dir-a-file", "bad setting MC_REPORT_DIR (environment variable MC_REPORT_DIR)",
         "'README.md' is a file, not a folder", files=README, env={"MC_REPORT_DIR": "README.md"}),
    row("report-dir-under-a-file", "bad setting MC_REPORT_DIR",
         "'README.md/sub' cannot be created: 'README.md' is a file, not a folder",
         files=README, env={"MC_REPORT_DIR": "README.md/sub"}),
    row("report-dir-deep-under-a-file", "MC_REPORT_DIR", "'README.md' is a file",
         files=README, env={"MC_REPORT_DIR": "README.md/a/b/c"}),
    row("report-dir-in-dotenv", "bad setting MC_REPORT_DIR (file .env, line 1)", "is a file",
         files={**README, ".env": "MC_REPORT_DIR=README.md\n"}),
    row("report-dir-broken-link", "bad setting MC_REPORT_DIR (default)",
         "'reports' is a broken symbolic link", files={"reports": Link("gone")}),
    row("report-dir-a-fifo", "bad setting MC_REPORT_DIR (default)",
         "'reports' is not a regular folder", files={"reports": Fifo()}),
    row("report-dir-not-writable", "bad setting MC_REPORT_DIR", "'/proc/1' is not writable",
         env={"MC_REPORT_DIR": "/proc/1/mc-reports"}),
    # /sys passes os.access for root but refuses mkdir: the narrow boundary names it instead
    row("report-dir-refuses-mkdir", "MC_REPORT_DIR", "/sys/mc-reports",
         env={"MC_REPORT_DIR": "/sys/mc-reports"}),
    row("report-dir-blank", "bad setting MC_REPORT_DIR", "must not be empty",
         env={"MC_REPORT_DIR": " "}),
    staging("report-dir-before-probes", "bad setting MC_REPORT_DIR", "is a file",
            files=README, env={**STAGING, "MC_REPORT_DIR": "README.md"}),
    row("docker-cache-a-file",
         "cannot write the docker build cache at .cache/docker: '.cache' is a file, not a folder",
         files={".cache": "x"}, command=("nox", "mission_critical-docker")),
    row("docker-cache-in-auto", "cannot write the docker build cache",
         "'.cache/docker' is a file", files={".cache/docker": "x"},
         env={"MC_ENV_ORDER": "docker,local"}, command=("nox", "mission_critical-auto")),
    row("invoke-report-dir-a-file", "bad setting MC_REPORT_DIR", "is a file", files=README,
         env={"MC_REPORT_DIR": "README.md"}, command=("inv", "gate.local")),
    row("invoke-serve-report-dir-a-file", "bad setting MC_REPORT_DIR", "is a file",
         files=README, env={"MC_REPORT_DIR": "README.md"}, command=("inv", "local.serve")),
    row("invoke-docker-build-cache-a-file", "cannot write the docker build cache",
         files={".cache": "x"}, command=("inv", "docker.build")),
]  # fmt: skip

# ---- rule 3: a message quotes what is wrong, never a secret, never a megabyte -----------------
QUOTING = [
    staging("ws-url-credentials-bad-port",
            "bad setting STAGING_WEBSOCKET_URL (file .env, line 1)",
            "'wss://***@staging.example.com:99999/ws' is not a URL",
            files={".env": f"STAGING_WEBSOCKET_URL=wss://u:{PASSWORD}@staging.example.com:99999/ws"},
            hidden=(PASSWORD,)),
    staging("ws-url-credentials", "bad setting STAGING_WEBSOCKET_URL", "carries credentials",
            env={**STAGING, "STAGING_WEBSOCKET_URL": f"wss://alice:{PASSWORD}@h.example/ws"},
            hidden=(PASSWORD, "alice")),
    staging("ws-url-token-as-user", "bad setting STAGING_WEBSOCKET_URL", "carries credentials",
            env={**STAGING, "STAGING_WEBSOCKET_URL": f"wss://{PASSWORD}@h.example/ws"},
            hidden=(PASSWORD,)),
    staging("ws-url-wrong-scheme-token", "bad setting STAGING_WEBSOCKET_URL",
            "'https://h.example/ws?token=***' is not a ws:// or wss:// URL",
            env={**STAGING, "STAGING_WEBSOCKET_URL": f"https://h.example/ws?token={SECRET}"},
            hidden=(SECRET,)),
    staging("backend-url-credentials", "bad setting STAGING_BACKEND_URL", "carries credentials",
            env={**STAGING, "STAGING_BACKEND_URL": f"https://admin:{PASSWORD}@h.example"},
            hidden=(PASSWORD,)),
    staging("backend-url-ftp-key", "bad setting STAGING_BACKEND_URL", "api_key=***",
            env={**STAGING, "STAGING_BACKEND_URL": f"ftp://h.example/?api_key={SECRET}"},
            hidden=(SECRET,)),
    staging("backend-url-jwt-in-query", "bad setting STAGING_BACKEND_URL", "?x=***",
            env={**STAGING, "STAGING_BACKEND_URL": f"ws://h.example/?x={T1}"}, hidden=(T1,)),
    row("health-path-token", "bad setting MC_HEALTH_PATH", "'health?token=***'",
         env={"MC_HEALTH_PATH": f"health?token={SECRET}"}, hidden=(SECRET,)),
    row("long-number", "bad setting MC_USERS (file .env, line 1)", "(500000 characters)",
         files={".env": "MC_USERS=" + "9" * 500_000 + "\n"}),
    staging("long-url-with-token", "bad setting STAGING_WEBSOCKET_URL", "characters)",
            env={**STAGING, "STAGING_WEBSOCKET_URL": LONG_URL}, hidden=(SECRET,)),
    staging("secret-in-staging-profile",
            "bad setting STAGING_JWT_SECRET (file .env.staging, line 1)",
            "is a secret: it belongs in .env",
            files={".env.staging": f"STAGING_JWT_SECRET={SECRET}\n"}, hidden=(SECRET,)),
    staging("tokens-in-staging-profile", "bad setting STAGING_TOKENS (file .env.staging",
            "never in the committed .env.staging",
            files={".env.staging": f"STAGING_TOKENS={T1}\n"}, hidden=(T1,)),
    staging("expired-token-in-staging-profile", "bad setting STAGING_EXPIRED_TOKEN", "is a secret",
            files={".env.staging": f"# staging\nSTAGING_EXPIRED_TOKEN={OLD}\n"}, hidden=(OLD,)),
    row("jwt-secret-in-docker-profile", "bad setting MC_JWT_SECRET (file .env.docker, line 1)",
         "is a secret", files={".env.docker": f"MC_JWT_SECRET={SECRET}\n"}, hidden=(SECRET,),
         command=("nox", "mission_critical-docker")),
    row("secret-line-unterminated", "bad setting STAGING_JWT_SECRET (file .env, line 1)",
         "line does not parse", files={".env": f'STAGING_JWT_SECRET="{SECRET}\n'},
         hidden=(SECRET,)),
    row("secret-as-a-bare-line", "bad setting ? (file .env, line 2)",
         files={".env": f"MC_USERS=3\n{SECRET}\n"}, hidden=(SECRET,)),
    row("unknown-key-with-a-secret", "bad setting STAGING_SECRET (file .env, line 1)",
         "unknown key", files={".env": f"STAGING_SECRET={SECRET}\n"}, hidden=(SECRET,)),
    staging("token-that-is-not-a-jwt", "bad setting STAGING_TOKENS",
            "STAGING_TOKENS[1] is not a JWT",
            env={**STAGING, "STAGING_TOKENS": f"{T1},{SECRET}"}, hidden=(SECRET, T1)),
    row("suite-tokens-from-the-environment",
         "bad setting MC_TOKENS (environment variable MC_TOKENS)", "set STAGING_TOKENS instead",
         env={"MC_TOKENS": T1}, hidden=(T1,)),
    row("invoke-secret-in-profile", "bad setting STAGING_JWT_SECRET", "is a secret",
         files={".env.staging": f"STAGING_JWT_SECRET={SECRET}\n"}, hidden=(SECRET,),
         command=("inv", "gate.staging")),
]  # fmt: skip

# ---- rule 4: no setting is silently ignored -----------------------------------------------------
STATIC = {"STAGING_WEBSOCKET_URL": "wss://staging.invalid/ws"}
IGNORED = [
    row("timeout-below-grace", "bad setting MC_TIMEOUT (environment variable MC_TIMEOUT)",
         "0.1 is less than MC_GRACE=1 (default)", env={"MC_TIMEOUT": "0.1"},
         absent=("no test ran",)),
    row("grace-above-timeout", "bad setting MC_GRACE (file .env, line 1)",
         "11 is more than MC_TIMEOUT=10 (default)", files={".env": "MC_GRACE=11\n"}),
    row("run-timeout-below-timeout", "bad setting MC_RUN_TIMEOUT", "less than MC_TIMEOUT=10",
         env={"MC_RUN_TIMEOUT": "5"}),
    row("grace-negative", "bad setting MC_GRACE", "from 0 to 600, got '-1'",
         env={"MC_GRACE": "-1"}),
    row("max-frame-too-small", "bad setting MC_MAX_FRAME", "from 64 to 268435456",
         env={"MC_MAX_FRAME": "10"}),
    row("concurrency-zero", "bad setting MC_CONCURRENCY", "all or a whole number from 1 to 1000",
         env={"MC_CONCURRENCY": "0"}),
    row("suite-url-from-the-environment", "bad setting MC_WS_URL (environment variable",
         "set STAGING_WEBSOCKET_URL", env={"MC_WS_URL": LOCAL_URL}),
    row("suite-url-in-dotenv", "bad setting MC_WS_URL (file .env, line 1)",
         "STAGING_WEBSOCKET_URL", files={".env": f"MC_WS_URL={LOCAL_URL}\n"}),
    row("suite-health-url", "bad setting MC_HTTP_URL", "STAGING_BACKEND_URL",
         env={"MC_HTTP_URL": "http://127.0.0.1:9"}),
    row("suite-expired-token", "bad setting MC_EXPIRED_TOKEN", "set STAGING_EXPIRED_TOKEN",
         env={"MC_EXPIRED_TOKEN": OLD}, hidden=(OLD,)),
    row("suite-ca-bundle", "bad setting MC_CA_BUNDLE", "set STAGING_CA_BUNDLE",
         env={"MC_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}),
    row("suite-env-name", "bad setting MC_ENV", "nox -s mission_critical-<docker|staging|local>",
         env={"MC_ENV": "docker"}),
    staging("duplicate-static-tokens", "bad setting STAGING_TOKENS",
            "STAGING_TOKENS[0] and STAGING_TOKENS[2] are tokens for the same user",
            env={**STATIC, "STAGING_TOKENS": f"{T1},{T2},{T1}"}, hidden=(T1, T2),
            absent=("MC_TOKENS",)),
    staging("expired-static-token", "bad setting STAGING_TOKENS",
            "STAGING_TOKENS[1] (sub='user-old') has expired",
            env={**STATIC, "STAGING_TOKENS": f"{T1},{OLD}"}, hidden=(OLD,)),
    staging("expired-token-not-expired", "bad setting STAGING_EXPIRED_TOKEN", "has not expired",
            env={**STAGING, "STAGING_TOKENS": T1, "STAGING_EXPIRED_TOKEN": T2}, hidden=(T1, T2)),
    row("env-order-empty", "bad setting MC_ENV_ORDER (environment variable MC_ENV_ORDER)",
         "is empty: name at least one of docker, staging, local", env={"MC_ENV_ORDER": ""},
         command=("nox", "mission_critical-auto"), absent=("Failed to start Docker",)),
    row("env-order-comma", "bad setting MC_ENV_ORDER", "has an empty entry between commas: ','",
         env={"MC_ENV_ORDER": ","}, command=("nox", "mission_critical-auto"),
         absent=("Failed to start Docker",)),
    row("env-order-blank-in-dotenv", "bad setting MC_ENV_ORDER (file .env, line 1)", "empty",
         files={".env": "MC_ENV_ORDER= , \n"}, command=("nox", "mission_critical-auto")),
    row("env-order-gap", "bad setting MC_ENV_ORDER", "empty entry",
         env={"MC_ENV_ORDER": "docker,,local"}, command=("nox", "mission_critical-auto")),
    row("local-host-with-port", "bad setting MC_LOCAL_HOST", "'127.0.0.1:8000' is not a host",
         env={"MC_LOCAL_HOST": "127.0.0.1:8000"}),
    row("local-host-a-url", "bad setting MC_LOCAL_HOST (file .env.local, line 1)", "not a host",
         files={".env.local": "MC_LOCAL_HOST=http://[::1]\n"}),
    row("unknown-key-lower-case", "bad setting mc_users (file .env, line 1)",
         "did you mean MC_USERS?", files={".env": "mc_users=3\n"}),
    row("posargs-junitxml", "bad pytest argument '--junitxml=mine.xml'", "MC_REPORT_DIR",
         command=("nox", "mission_critical-local", "--", "--junitxml=mine.xml")),
    row("addopts-no-junitxml", "bad pytest argument '-p no:junitxml'",
         env={"PYTEST_ADDOPTS": "-p no:junitxml"}),
    row("invoke-env-order-comma", "bad setting MC_ENV_ORDER", "empty entry",
         env={"MC_ENV_ORDER": ","}, command=("inv", "gate.auto")),
]  # fmt: skip

# ---- the team's own backend (issue 16): its keys are checked before anything starts ---------
DOCKER = ("nox", "mission_critical-docker")
COMPOSE = {"compose.yaml": "services:\n  backend:\n    image: team:dev\n"}
TEAM = [
    row("compose-file-missing",
         "bad setting MC_DOCKER_COMPOSE_FILE (environment variable MC_DOCKER_COMPOSE_FILE)",
         "'team/compose.yaml' does not exist (relative to",
         env={"MC_DOCKER_COMPOSE_FILE": "team/compose.yaml"}, command=DOCKER),
    row("compose-file-one-of-several-missing", "bad setting MC_DOCKER_COMPOSE_FILE (file .env",
         "'compose.gate.yaml' (file 2 of 2) does not exist", files={
             **COMPOSE, ".env": "MC_DOCKER_COMPOSE_FILE=compose.yaml:compose.gate.yaml\n"},
         command=DOCKER),
    row("compose-file-a-folder-in-auto", "bad setting MC_DOCKER_COMPOSE_FILE", "is not a file",
         files={"team": Dir()}, env={"MC_DOCKER_COMPOSE_FILE": "team",
                                     "MC_ENV_ORDER": "docker,local"},
         command=("nox", "mission_critical-auto")),
    row("compose-files-empty-entry", "bad setting MC_DOCKER_COMPOSE_FILE",
         "has an empty entry between colons", env={"MC_DOCKER_COMPOSE_FILE": "a.yaml:"},
         command=DOCKER),
    row("docker-secret-env-not-a-name", "bad setting MC_DOCKER_SECRET_ENV (file .env.docker",
         "'JWT SECRET' is not a valid environment variable name",
         files={".env.docker": "MC_DOCKER_SECRET_ENV=JWT SECRET\n"}, command=DOCKER),
    row("docker-secret-env-a-gate-key", "bad setting MC_DOCKER_SECRET_ENV",
         "is one of the gate's own variables", env={"MC_DOCKER_SECRET_ENV": "STAGING_JWT_SECRET"},
         command=DOCKER),
    row("local-command-without-port", "bad setting MC_LOCAL_COMMAND (file .env.local, line 1)",
         "has no {port} for the harness to fill in",
         files={".env.local": "MC_LOCAL_COMMAND=uvicorn app:app\n"}),
    row("local-command-unbalanced-quote", "bad setting MC_LOCAL_COMMAND",
         "does not split as a shell would", env={"MC_LOCAL_COMMAND": "'run --port {port}"}),
    row("local-cwd-missing", "bad setting MC_LOCAL_CWD", "'backend': no such folder",
         env={"MC_LOCAL_COMMAND": "run --port {port}", "MC_LOCAL_CWD": "backend"}),
    row("local-secret-env-without-command", "bad setting MC_LOCAL_SECRET_ENV",
         "is for the team's command (MC_LOCAL_COMMAND), which is not set",
         env={"MC_LOCAL_SECRET_ENV": "JWT_SECRET_KEY"}),
    row("local-secret-env-not-a-name", "bad setting MC_LOCAL_SECRET_ENV",
         "not a valid environment variable name",
         env={"MC_LOCAL_COMMAND": "run --port {port}", "MC_LOCAL_SECRET_ENV": "$JWT"}),
]  # fmt: skip

CASES = [*FILES, *WRITES, *QUOTING, *IGNORED, *TEAM]


@pytest.fixture(scope="module")
def table(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Case], Outcome]]:
    """The outcome of each selected row; they all start together, on the first request."""
    ids = {
        item.callspec.id
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_bad_input_stops_in_one_line_and_leaves_nothing"
    }
    runner = Table(tmp_path_factory.mktemp("bad-input"), [c for c in CASES if c.id in ids])
    yield runner.outcome
    print(f"\nbad-input table: {runner.close()}")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_stops_in_one_line_and_leaves_nothing(
    table: Callable[[Case], Outcome], case: Case
) -> None:
    done = table(case)
    tail = done.out[-3000:]
    assert done.code != 0, tail
    assert "Traceback" not in done.out, tail
    lines = [line for line in done.out.splitlines() if case.says[0] in line]
    assert len(lines) == 1, tail  # the reason is one line, said once
    for text in case.says:
        assert text in lines[0], lines[0]
    assert len(lines[0]) < 500, lines[0]  # never a megabyte
    for text in (*case.hidden, *case.absent, *NOTHING_STARTED):
        assert text not in done.out, f"{text!r} in: {tail}"
    assert done.after == done.before, "the run wrote to the checkout"
    assert done.left_running == []


# how many cases of each kind issue 12 listed; it promised to try more of each
LISTED = {"files": 4, "writes": 2, "quoting": 4, "ignored": 8}


def test_each_kind_has_more_rows_than_the_issue_listed_and_ids_are_unique() -> None:
    kinds = {"files": FILES, "writes": WRITES, "quoting": QUOTING, "ignored": IGNORED}
    assert len(TEAM) >= 5  # issue 16's bad keys: files, a secret variable's name, the command
    assert {kind: len(rows) > LISTED[kind] for kind, rows in kinds.items()} == dict.fromkeys(
        LISTED, True
    )
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.slow
def test_an_ipv6_local_host_is_bracketed_in_every_url(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """MC_LOCAL_HOST=::1 used to start the backend and then hand the suite ws://::1:port/ws."""
    case = Case("ipv6", (), env={"MC_LOCAL_HOST": "::1", "MC_REPORT_DIR": "reports"},
                command=("nox", "mission_critical-local", "--", "-k", "health"))  # fmt: skip
    base = tmp_path_factory.mktemp("ipv6")
    done = run_case(case, base, keep=True)
    assert done.code == 0, done.out[-3000:]
    assert "mission-critical gate: PASSED" in done.out
    [report] = [name for name in done.after if name.endswith(".json") and ".suite." not in name]
    summary = json.loads((base / "checkout" / report).read_text())
    assert str(summary["ws_url"]).startswith("ws://[::1]:")
    assert str(summary["http_url"]).startswith("http://[::1]:")
    assert done.left_running == []
