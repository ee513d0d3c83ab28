"""The settings: profiles -> one frozen, validated ``Settings``; the harness's lowest floor.

Everything above imports what this module exports (``load_settings``, ``Settings``, ``Secret``,
``KEYS`` ...) and the exception tree in ``tasks.settings.errors``. Inside, lowest first (an import
only ever points down):

    quoting    how a message shows a value: never a secret or a credential, never a megabyte
    addresses  hosts in URLs (IPv6 bracketed), and what counts as loopback
    errors     every error the harness raises on purpose (its tree is drawn in the docstring)
    values     one raw string -> one typed value, or a short reason
    keys       every key: its profile, parser, default and doc (the one table, ``KEYS``)
    rules      the files keys name (rule 1), and the rules between keys (rule 4)
    profiles   the layers (defaults, .env.<env>, .env, the environment) -> Settings

It imports only ``contract`` and python-dotenv (lazily), never another part of ``tasks``.
"""

from __future__ import annotations

from tasks.settings.profiles import (
    ENV_NAMES,
    KEYS,
    EnvName,
    Secret,
    Settings,
    is_loopback,
    load_settings,
    read_ca_bundle,
)

__all__ = [
    "ENV_NAMES",
    "KEYS",
    "EnvName",
    "Secret",
    "Settings",
    "is_loopback",
    "load_settings",
    "read_ca_bundle",
]
