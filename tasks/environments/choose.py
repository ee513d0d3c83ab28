"""Which environment a run judges: a pure decision, observations in, decision and reasons out.

``choose_environment`` does no I/O. It asks ``observe(env)`` about a candidate only when the
answer matters (so Docker is not probed when a legacy flag sends the run to staging), and returns
every reason it weighed, so the summary can say why the others were not picked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tasks.settings import EnvName, Settings
from tasks.settings.errors import NoEnvironmentError, RequiredEnvironmentError
from tasks.settings.quoting import redact_url

Requested = Literal["auto", "docker", "staging", "local"]

NO_ENVIRONMENT = "Failed to start Docker services and no staging fallback configured"
DOCKER_TO_STAGING = "WARNING: Docker services failed - using staging environment fallback"


@dataclass(frozen=True)
class Observation:
    env: EnvName
    usable: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    env: EnvName
    reason: str
    considered: tuple[Observation, ...]  # every candidate looked at, in order, the chosen last
    fallbacks: tuple[EnvName, ...]  # what auto may still try if MC_FALLBACK_ON=any
    notes: tuple[str, ...]  # announcements and deprecations, shown before bring-up


def observe_staging(settings: Settings) -> Observation:
    """Staging qualifies for auto when the fallback is switched on and a URL is configured."""
    if not settings.staging_websocket_url:
        return Observation("staging", usable=False, reason="STAGING_WEBSOCKET_URL is not set")
    if not settings.use_staging_fallback:
        return Observation("staging", usable=False, reason="USE_STAGING_FALLBACK is not true")
    url = redact_url(settings.staging_websocket_url)
    return Observation("staging", usable=True, reason=f"fallback configured: {url}")


def _legacy_staging(settings: Settings) -> str | None:
    if settings.use_staging_services:
        return "USE_STAGING_SERVICES=true"
    if settings.test_mode in {"staging", "staging_fallback"}:
        return f"TEST_MODE={settings.test_mode}"
    return None


def candidates(requested: Requested, settings: Settings) -> tuple[EnvName, ...]:
    """Every environment this run may judge (what its bring-up may need is checked up front)."""
    if requested != "auto":
        return (requested,)
    return ("staging",) if _legacy_staging(settings) else settings.env_order


def choose_environment(
    requested: Requested,
    settings: Settings,
    observe: Callable[[EnvName], Observation],
) -> Decision:
    if requested != "auto":
        decision = Decision(requested, f"requested explicitly ({requested})", (), (), ())
        return _check_required(decision, settings)

    legacy = _legacy_staging(settings)
    if legacy:
        note = (
            f"{legacy} is deprecated: use USE_STAGING_FALLBACK=true with "
            "`nox -s mission_critical-auto`, or `nox -s mission_critical-staging`"
        )
        if not settings.staging_websocket_url:
            raise NoEnvironmentError(
                f"{legacy} asks for staging but STAGING_WEBSOCKET_URL is not set",
                [("staging", "STAGING_WEBSOCKET_URL is not set")],
            )
        decision = Decision("staging", f"{legacy} (legacy flag)", (), (), (note,))
        return _check_required(decision, settings)

    considered: list[Observation] = []
    for index, env in enumerate(settings.env_order):
        seen = observe(env)
        considered.append(seen)
        if not seen.usable:
            continue
        notes: list[str] = []
        if env == "staging" and any(o.env == "docker" for o in considered):
            notes.append(DOCKER_TO_STAGING)
        rejected = [o for o in considered if not o.usable]
        why = seen.reason
        if rejected:
            why += "; " + "; ".join(f"not {o.env}: {o.reason}" for o in rejected)
        rest = settings.env_order[index + 1 :]
        decision = Decision(env, why, tuple(considered), rest, tuple(notes))
        return _check_required(decision, settings)

    raise NoEnvironmentError(NO_ENVIRONMENT, [(o.env, o.reason) for o in considered])


def _check_required(decision: Decision, settings: Settings) -> Decision:
    if settings.require_env and decision.env not in settings.require_env:
        raise RequiredEnvironmentError(settings.require_env, decision.env, decision.reason)
    return decision
