"""An exec plugin's AWS env, honoured without touching ``os.environ``.

``LayeredEnvSession`` is an aiobotocore session whose config chains, endpoint settings and
credential providers read a given mapping (the plugin's env over ``os.environ``), so
several clusters with different AWS settings live in one process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiobotocore.session import AioSession
from botocore.configprovider import (
    BOTOCORE_DEFAUT_SESSION_VARIABLES,
    DEFAULT_PROXIES_CONFIG_VARS,
    DEFAULT_S3_CONFIG_VARS,
    ConfigChainFactory,
    ConfiguredEndpointProvider,
    ConfigValueStore,
    SectionConfigProvider,
)

_CREDENTIAL_ENV = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_ACCOUNT_ID",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CREDENTIAL_FILE",
        "BOTO_CONFIG",
        "AWS_ENDPOINT_URL",
        # read by kom-async itself (region) or with no effect on the token
        "AWS_REGION",
        "AWS_PAGER",
        "AWS_DEFAULT_OUTPUT",
        "AWS_CLI_AUTO_PROMPT",
        "AWS_EXECUTION_ENV",
    }
)
_SERVICE_ENDPOINT_ENV = re.compile(r"^AWS_ENDPOINT_URL_[A-Z0-9_]+$")


def _config_env_names() -> frozenset[str]:
    names: set[str] = set()
    for table in (BOTOCORE_DEFAUT_SESSION_VARIABLES, DEFAULT_S3_CONFIG_VARS, DEFAULT_PROXIES_CONFIG_VARS):
        for spec in table.values():
            env = spec[1]
            if isinstance(env, str):
                names.add(env)
            elif isinstance(env, (list, tuple)):
                names.update(env)
    return frozenset(names)


_LAYERED_ENV = _config_env_names() | _CREDENTIAL_ENV


def unsupported_env_names(env: Mapping[str, str]) -> list[str]:
    """Exec env names a layered botocore session cannot honour (they need a subprocess)."""
    return sorted(name for name in env if name not in _LAYERED_ENV and not _SERVICE_ENDPOINT_ENV.match(name))


def _config_mapping(session: AioSession, environ: Mapping[str, str]) -> dict[str, Any]:
    """botocore's default config chains, reading env vars from ``environ``."""
    factory = ConfigChainFactory(session=session, environ=environ)

    def chains(table: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: factory.create_config_chain(
                instance_name=name,
                env_var_names=spec[1],
                config_property_names=spec[0],
                default=spec[2],
                conversion_func=spec[3],
            )
            for name, spec in table.items()
        }

    mapping = chains(BOTOCORE_DEFAUT_SESSION_VARIABLES)
    mapping["s3"] = SectionConfigProvider("s3", session, chains(DEFAULT_S3_CONFIG_VARS))
    mapping["proxies_config"] = SectionConfigProvider(
        "proxies_config", session, chains(DEFAULT_PROXIES_CONFIG_VARS)
    )
    return mapping


class LayeredEnvSession(AioSession):  # type: ignore[misc]
    """An aiobotocore session whose env lookups see ``environ`` instead of ``os.environ``.

    Config chains, endpoint URL settings and the credential providers that read the
    environment (env keys, container, IMDS switch, legacy files) all use the mapping.
    """

    def __init__(self, environ: Mapping[str, str], profile: str | None = None) -> None:
        self._kom_environ = environ
        super().__init__(profile=profile)

    def _register_config_store(self) -> None:
        store = ConfigValueStore(mapping=_config_mapping(self, self._kom_environ))
        self._components.register_component("config_store", store)

    def _add_configured_endpoint_provider(self, client_name: str, config_store: Any) -> None:
        provider = ConfiguredEndpointProvider(
            full_config=self.full_config,
            scoped_config=self.get_scoped_config(),
            client_name=client_name,
            environ=self._kom_environ,
        )
        config_store.set_config_provider(logical_name="endpoint_url", provider=provider)

    def _create_credential_resolver(self) -> Any:
        resolver = super()._create_credential_resolver()
        providers = list(resolver.providers)
        for provider in list(providers):
            sourcer = getattr(provider, "_credential_sourcer", None)
            providers.extend(getattr(sourcer, "_providers", ()))
        for provider in providers:
            _retarget_env(provider, self._kom_environ)
        return resolver


def _retarget_env(provider: Any, environ: Mapping[str, str]) -> None:
    """Point one credential provider's environment lookups at ``environ``."""
    if hasattr(provider, "environ"):  # EnvProvider
        provider.environ = environ
    elif hasattr(provider, "_environ"):  # ContainerProvider, OriginalEC2Provider, BotoProvider
        provider._environ = environ
    fetcher = getattr(provider, "_role_fetcher", None)  # InstanceMetadataProvider
    if fetcher is not None and hasattr(fetcher, "_disabled"):
        fetcher._disabled = environ.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true"
