"""The limits of issue 12 come from the environment, with their defaults."""

from __future__ import annotations

import pytest

from desktop.relay.config import RelaySettings


def test_limits_have_defaults() -> None:
    settings = RelaySettings.from_env({})
    assert settings.max_header_bytes == 16 * 1024
    assert settings.max_header_count == 100
    assert settings.max_connections == 1000
    assert settings.write_timeout == 10.0
    assert settings.signin_refuse_after == 10
    assert settings.signin_address_refuse_after == 30
    assert settings.signin_account_alarm == 100
    assert settings.trusted_proxies == []
    assert settings.max_sockets_per_account == 50
    assert settings.max_unauthenticated_sockets_per_address == 10
    assert settings.ws_auth_timeout == 5.0
    assert 1 <= settings.password_workers <= 4
    assert settings.api_docs is False


def test_limits_come_from_the_environment() -> None:
    settings = RelaySettings.from_env(
        {
            "PROFITRINGER_MAX_HEADER_BYTES": "8192",
            "PROFITRINGER_MAX_HEADER_COUNT": "50",
            "PROFITRINGER_MAX_CONNECTIONS": "200",
            "PROFITRINGER_WRITE_TIMEOUT": "3",
            "PROFITRINGER_LINGER_TIMEOUT": "1",
            "PROFITRINGER_SIGNIN_WINDOW": "600",
            "PROFITRINGER_SIGNIN_REFUSE_AFTER": "5",
            "PROFITRINGER_SIGNIN_ADDRESS_REFUSE_AFTER": "20",
            "PROFITRINGER_SIGNIN_ACCOUNT_ALARM": "50",
            "PROFITRINGER_SIGNIN_MAX_TRACKED": "1000",
            "PROFITRINGER_PASSWORD_WORKERS": "2",
            "PROFITRINGER_PASSWORD_QUEUE": "8",
            "PROFITRINGER_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
            "PROFITRINGER_MAX_SOCKETS_PER_ACCOUNT": "5",
            "PROFITRINGER_MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS": "3",
            "PROFITRINGER_WS_AUTH_TIMEOUT": "2",
            "PROFITRINGER_PURGE_INTERVAL": "60",
            "PROFITRINGER_API_DOCS": "1",
            "PROFITRINGER_ZOOM_PLAN_INTERVAL": "5",
        }
    )
    assert (settings.max_header_bytes, settings.max_header_count) == (8192, 50)
    assert (settings.max_connections, settings.write_timeout, settings.linger_timeout) == (
        200,
        3.0,
        1.0,
    )
    assert settings.signin_window == 600.0
    assert (
        settings.signin_refuse_after,
        settings.signin_address_refuse_after,
        settings.signin_account_alarm,
        settings.signin_max_tracked,
    ) == (5, 20, 50, 1000)
    assert (settings.password_workers, settings.password_queue) == (2, 8)
    assert settings.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert settings.max_sockets_per_account == 5
    assert settings.max_unauthenticated_sockets_per_address == 3
    assert settings.ws_auth_timeout == 2.0
    assert settings.purge_interval == 60.0
    assert settings.api_docs is True
    assert settings.zoom_plan_interval == 5.0


@pytest.mark.parametrize("value", ["many", "-1", "1.5"])
def test_a_bad_count_is_refused_with_its_name(value: str) -> None:
    with pytest.raises(ValueError, match="PROFITRINGER_MAX_CONNECTIONS"):
        RelaySettings.from_env({"PROFITRINGER_MAX_CONNECTIONS": value})


def test_durability_is_normal_unless_set_and_only_normal_or_full() -> None:
    assert RelaySettings.from_env({}).durability == "normal"
    assert RelaySettings.from_env({"PROFITRINGER_DURABILITY": "Full"}).durability == "full"
    with pytest.raises(ValueError, match="PROFITRINGER_DURABILITY must be one of normal, full"):
        RelaySettings.from_env({"PROFITRINGER_DURABILITY": "paranoid"})
