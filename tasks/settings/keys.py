"""Every key the harness reads: its group (which profile may hold it), parser, default and doc.

``KEYS`` is the one table; ``Settings`` has one field per key (``field_name``). A key the suite
reads as well is marked ``suite`` and forwarded by ``Target.to_env``; the suite's variables the
gate sets itself are in ``SET_BY_THE_GATE``, refused as settings, each naming what to set.
``.env.example`` and docs/settings.md list every key; a test keeps the three in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from contract.dialect import DEFAULT as DEFAULT_DIALECT
from tasks.settings.values import boolean as _bool
from tasks.settings.values import choice as _choice
from tasks.settings.values import command as _command
from tasks.settings.values import count as _count
from tasks.settings.values import count_or_all as _count_or_all
from tasks.settings.values import env_list
from tasks.settings.values import expired_token as _expired_token
from tasks.settings.values import host as _host
from tasks.settings.values import no_exp_token as _no_exp_token
from tasks.settings.values import number as _number
from tasks.settings.values import optional as _optional
from tasks.settings.values import optional_text as _optional_text
from tasks.settings.values import path as _path
from tasks.settings.values import paths as _paths
from tasks.settings.values import secret as _secret
from tasks.settings.values import text as _text
from tasks.settings.values import tokens as _tokens
from tasks.settings.values import url as _url
from tasks.settings.values import url_path as _url_path
from tasks.settings.values import variable_name as _variable_name

Group = Literal["common", "docker", "staging", "local"]
MIB = 2**20
# The parsers keep their short names here, so that the table below reads as one line per key.
_env_order = env_list(may_be_empty=False)
_env_list = env_list(may_be_empty=True)


def _dialect(raw: str) -> str:
    """A shipped dialect's name or a dialect file; empty means the reference (as for the suite).
    Whether it loads is checked with the other files (``rules.check_together``)."""
    return raw.strip() or DEFAULT_DIALECT


@dataclass(frozen=True)
class Key:
    group: Group
    parse: Callable[[str], object]
    default: str
    doc: str
    secret: bool = False  # never shown, never in a committed profile, scrubbed from all output
    suite: bool = False  # the suite reads a variable of this name; Target.to_env forwards it


KEYS: dict[str, Key] = {
    # common: .env or the process environment
    "MC_ENV_ORDER": Key("common", _env_order, "docker,staging,local", "auto's order"),
    "MC_REQUIRE_ENV": Key("common", _env_list, "", "fail unless auto picks one of these"),
    "MC_FALLBACK_ON": Key(
        "common", _choice("unavailable", "any"), "unavailable", "what makes auto fall through"
    ),
    "MC_USERS": Key("common", _count(1, 1000), "25", "users in the load check", suite=True),
    "MC_TIMEOUT": Key("common", _number(0.1, 600), "10", "one wait in the suite", suite=True),
    "MC_RUN_TIMEOUT": Key("common", _number(1, 3600), "120", "one whole run", suite=True),
    "MC_GRACE": Key("common", _number(0, 600), "1.0", "listening after a run", suite=True),
    "MC_MAX_FRAME": Key("common", _optional(_count(64, 256 * MIB)), "", "frame limit", suite=True),
    "MC_CONCURRENCY": Key("common", _count_or_all(1, 1000), "all", "checks at once", suite=True),
    "MC_HEALTH_PATH": Key("common", _optional(_url_path), "", "health path", suite=True),
    "MC_ALLOW_SKIPS": Key("common", _bool, "false", "let a skip pass the gate", suite=True),
    "MC_CONTRACT": Key("common", _dialect, "reference", "the dialect judged", suite=True),
    "MC_LATENCY_STARTED_P95": Key(
        "common", _optional(_number(0.001, 3600)), "", "budget: agent_started", suite=True
    ),
    "MC_LATENCY_THINKING_P95": Key(
        "common", _optional(_number(0.001, 3600)), "", "budget: agent_thinking", suite=True
    ),
    "MC_LATENCY_COMPLETED_P95": Key(
        "common", _optional(_number(0.001, 3600)), "", "budget: agent_completed", suite=True
    ),
    "MC_REPORT_DIR": Key("common", _path, "reports", "where JUnit and JSON reports go"),
    "MC_JWT_SECRET": Key("common", _secret, "", "HS256 secret for local/docker", secret=True),
    "MC_EVENT_SHAPE": Key("common", _choice("flat", "data"), "flat", "reference backend's shape"),
    # local
    "MC_LOCAL_HOST": Key("local", _host, "127.0.0.1", "address the local backend binds"),
    "MC_LOCAL_READY_TIMEOUT": Key("local", _number(0.1, 600), "15", "seconds to become ready"),
    "MC_LOCAL_COMMAND": Key("local", _command, "", "the team's backend: a command line"),
    "MC_LOCAL_CWD": Key("local", _optional(_path), "", "the command's working folder"),
    "MC_LOCAL_SECRET_ENV": Key("local", _variable_name, "", "the command's secret variable"),
    # docker
    "MC_DOCKER_COMPOSE_FILE": Key("docker", _paths, "compose.yaml", "the stack: file[:file...]"),
    "MC_DOCKER_COMPOSE": Key(
        "docker", _choice("auto", "v1", "v2"), "auto", "which compose runs it"
    ),
    "MC_DOCKER_SERVICE": Key("docker", _text, "refservice", "the service that is the backend"),
    "MC_DOCKER_PORT": Key("docker", _count(1, 65535), "8000", "the service's container port"),
    "MC_DOCKER_SECRET_ENV": Key("docker", _variable_name, "", "the stack's secret variable"),
    "MC_DOCKER_DAEMON_TIMEOUT": Key("docker", _number(0.05, 60), "1", "daemon probe bound"),
    "MC_DOCKER_READY_TIMEOUT": Key("docker", _number(1, 3600), "60", "readiness bound"),
    "MC_DOCKER_STOP_TIMEOUT": Key("docker", _count(0, 600), "3", "seconds `down` gives containers"),
    "MC_DOCKER_BASE_IMAGE": Key("docker", _text, "python:3.11-slim", "base image to build on"),
    "MC_DOCKER_SWEEP_AGE": Key("docker", _number(0, 10**7), "3600", "age of a stale stack, s"),
    # staging
    "STAGING_WEBSOCKET_URL": Key("staging", _url("ws", "wss"), "", "the deployment's /ws URL"),
    "STAGING_BACKEND_URL": Key("staging", _url("http", "https"), "", "health base URL"),
    "STAGING_JWT_SECRET": Key("staging", _secret, "", "mint per-user tokens", secret=True),
    "STAGING_TOKENS": Key("staging", _tokens("STAGING_TOKENS"), "", "static JWTs", secret=True),
    "STAGING_EXPIRED_TOKEN": Key(
        "staging", _expired_token("STAGING_EXPIRED_TOKEN"), "", "an expired JWT", secret=True
    ),
    "STAGING_NO_EXP_TOKEN": Key(
        "staging", _no_exp_token("STAGING_NO_EXP_TOKEN"), "", "a JWT without exp", secret=True
    ),
    "STAGING_CA_BUNDLE": Key("staging", _optional_text, "", "CA file for wss://"),
    "STAGING_ALLOW_INSECURE_WS": Key("staging", _bool, "false", "allow ws:// to a remote host"),
    "STAGING_PROBE_TIMEOUT": Key("staging", _number(0.1, 600), "5", "bound of each probe"),
    "STAGING_READY_TIMEOUT": Key("staging", _number(0, 3600), "90", "bound of the wake phase"),
    "USE_STAGING_FALLBACK": Key("staging", _bool, "false", "auto may judge staging"),
    "USE_STAGING_SERVICES": Key("staging", _bool, "false", "legacy: go straight to staging"),
    "TEST_MODE": Key(
        "staging", _choice("", "docker", "local", "staging", "staging_fallback"), "", "legacy"
    ),
}

_CHOSEN = (
    "the gate names the environment it judges: pick one with "
    "`nox -s mission_critical-<docker|staging|local>`, or MC_ENV_ORDER for auto"
)
# The suite's variables that are not harness keys: the gate sets them itself, so one set for a
# gate run would be ignored. They are refused instead, naming what to set.
SET_BY_THE_GATE: dict[str, str] = {
    "MC_WS_URL": "the gate aims it at the environment it judges; for a deployment of your own "
    "set STAGING_WEBSOCKET_URL, or run the suite directly (docs/suite.md)",
    "MC_HTTP_URL": "the gate sets it with MC_WS_URL; for staging set STAGING_BACKEND_URL",
    "MC_TOKENS": "set STAGING_TOKENS instead (the gate passes them on)",
    "MC_EXPIRED_TOKEN": "set STAGING_EXPIRED_TOKEN instead (the gate passes it on)",
    "MC_NO_EXP_TOKEN": "set STAGING_NO_EXP_TOKEN instead (the gate passes it on)",
    "MC_CA_BUNDLE": "set STAGING_CA_BUNDLE instead (the gate passes it on)",
    "MC_REPORT_DATA": "the gate has the suite write it next to the JUnit report: set MC_REPORT_DIR",
    "MC_ENV": _CHOSEN,
    "MC_ENV_REASON": _CHOSEN,
}


def field_name(key: str) -> str:
    """The ``Settings`` field of a key: the key without ``MC_``, lower-cased."""
    return key.removeprefix("MC_").lower()
