"""What compose prints for a stack (`config`), read: ports in both families' spellings, the
services the harness builds, pulls, or knows to be the reference image."""

from __future__ import annotations

import pytest

from tasks.environments.docker.config import Port, parse_config
from tasks.environments.docker.labels import _created, _Pieces, _stack, stale_reason
from tasks.environments.docker.plan import PLANNED_IMAGE

# (id, a `ports:` entry as compose v1 or v2 prints it, the ports it means)
PORTS = [
    ("v2-long-ephemeral", {"mode": "ingress", "host_ip": "127.0.0.1", "target": 8000,
                           "protocol": "tcp"}, [Port(8000, None, "127.0.0.1", "tcp")]),
    ("v2-long-fixed", {"target": 8000, "published": "8000", "protocol": "tcp"},
     [Port(8000, 8000, "", "tcp")]),
    ("v1-long-fixed", {"published": 8080, "target": 80}, [Port(80, 8080, "", "tcp")]),
    ("v1-long-target-only", {"target": 9000}, [Port(9000, None, "", "tcp")]),
    ("v1-short-ephemeral", "127.0.0.1::8000/tcp", [Port(8000, None, "127.0.0.1", "tcp")]),
    ("v1-short-fixed-udp", "127.0.0.1:9100:9100/udp", [Port(9100, 9100, "127.0.0.1", "udp")]),
    ("short-host-and-container", "8000:80", [Port(80, 8000, "", "tcp")]),
    ("short-container-only", "8000", [Port(8000, None, "", "tcp")]),
    ("short-range", "9200-9201:9300-9301",
     [Port(9300, 9200, "", "tcp"), Port(9301, 9201, "", "tcp")]),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "ports"), [p[1:] for p in PORTS], ids=[p[0] for p in PORTS])
def test_ports_read_in_every_spelling(entry: object, ports: list[Port]) -> None:
    text = f"services:\n  a:\n    image: x\n    ports:\n      - {entry!r}\n"
    if isinstance(entry, dict):
        text = "services:\n  a:\n    image: x\n    ports:\n      - " + str(entry) + "\n"
    config = parse_config(text.replace("'", '"'))
    assert list(config.services["a"].ports) == ports


STACK = f"""
services:
  reference:
    image: {PLANNED_IMAGE}
    build: {{context: .}}
  backend:
    image: team-backend:dev
    build: {{context: ./backend}}
    container_name: fixed
  db:
    image: postgres:16
"""


def test_a_stack_knows_what_to_build_pull_and_whether_it_runs_the_reference_image() -> None:
    config = parse_config(STACK)
    assert config.uses_reference_image
    assert config.to_build() == ["backend"]  # the reference image is the harness's own build
    assert config.to_pull() == {"db": "postgres:16"}
    assert config.services["backend"].container_name == "fixed"
    assert not parse_config("services:\n  db:\n    image: postgres\n").uses_reference_image


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("services: [", "not YAML", id="not-yaml"),
        pytest.param("name: x\n", "names no services", id="no-services"),
        pytest.param("- a\n", "names no services", id="a-list"),
    ],
)
def test_output_that_is_no_compose_model_is_said(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_config(text)


def test_the_reference_image_is_neither_built_by_compose_nor_pulled() -> None:
    config = parse_config(f"services:\n  refservice:\n    image: {PLANNED_IMAGE}\n")
    assert config.uses_reference_image
    assert config.to_build() == []
    assert config.to_pull() == {}


@pytest.mark.parametrize(
    ("item", "key", "epoch"),
    [
        pytest.param({"Created": 1700000000}, "Created", 1700000000.0, id="container-epoch"),
        pytest.param({"Created": "2023-11-14T22:13:20.123456789Z"}, "Created", 1700000000.0,
                     id="network-rfc3339-nanoseconds"),
        pytest.param({"CreatedAt": "2023-11-14T23:13:20+01:00"}, "CreatedAt", 1700000000.0,
                     id="volume-with-zone"),
        pytest.param({"CreatedAt": "yesterday"}, "CreatedAt", None, id="not-a-time"),
    ],
)  # fmt: skip
def test_the_engines_creation_times_read(item: dict[str, object], key: str, epoch: float) -> None:
    assert _created(item, key) == epoch


def test_a_stack_without_the_gates_labels_is_known_by_its_name_and_age() -> None:
    pieces = _Pieces(created=[1700000100.0, 1700000000.0], networks=["n1"], volumes=["v1"])
    stack = _stack("mcg-4242-abc123", pieces)
    assert (stack.owner_pid, stack.owner_host, stack.started) == (4242, "", 1700000000.0)
    assert stale_reason(stack, max_age=3600, now=1700000000.0 + 60, host="h") is None  # young
    assert "started" in str(stale_reason(stack, max_age=3600, now=1700000000.0 + 7200, host="h"))
