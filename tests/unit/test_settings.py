"""Settings: defaults, then environment ``PIGEON_*``, then explicit arguments (CLI flags)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from pigeon.config import Settings

CONTRACT_LIMITS = {
    "max_frame_bytes",
    "max_text_chars",
    "max_body_bytes",
    "max_upload_bytes",
    "max_group_members",
    "recall_window_s",
    "send_rate_per_s",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No PIGEON_* from the surrounding shell may leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("PIGEON_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.data_dir == Path("./pigeon-data")
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.trusted_proxy_networks == ()


def test_environment_overrides_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PIGEON_PORT", "9123")
    clean_env.setenv("PIGEON_DATA_DIR", "/srv/pigeon")
    clean_env.setenv("PIGEON_DATABASE_URL", "postgresql://db/pigeon")
    clean_env.setenv("PIGEON_SEND_RATE_PER_S", "2.5")
    settings = Settings()
    assert settings.port == 9123
    assert settings.data_dir == Path("/srv/pigeon")
    assert settings.database_url == "postgresql://db/pigeon"
    assert settings.send_rate_per_s == 2.5


def test_environment_names_are_case_insensitive(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("pigeon_port", "9124")
    assert Settings().port == 9124


def test_arguments_override_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PIGEON_PORT", "9123")
    clean_env.setenv("PIGEON_HOST", "127.0.0.2")
    settings = Settings(port=7000)
    assert settings.port == 7000
    assert settings.host == "127.0.0.2"  # not passed, so the environment still counts


def test_unrelated_pigeon_variables_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PIGEON_REQUIRE_SERVICES", "1")
    assert Settings().port == 8080


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PIGEON_PORT", "not-a-port"),
        ("PIGEON_PORT", "70000"),
        ("PIGEON_HEARTBEAT_S", "0"),
        ("PIGEON_MAX_BODY_BYTES", "1"),
        ("PIGEON_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
    ],
)
def test_bad_environment_values_are_refused(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    "value", ["garbage", "10.0.0.0/33", "1.2.3.4.5", "::g", "10.0.0.0/8;1.1.1.1"]
)
def test_bad_trusted_proxies_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(trusted_proxies=value)


def test_trusted_proxies_parse_ips_and_cidrs() -> None:
    settings = Settings(trusted_proxies=" 10.0.0.0/8, 192.168.1.7 ,,::1, 172.16.5.4/12")
    assert settings.trusted_proxy_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("172.16.0.0/12"),  # host bits are tolerated
    )


def test_trusted_proxies_from_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PIGEON_TRUSTED_PROXIES", "127.0.0.1")
    networks = Settings().trusted_proxy_networks
    assert networks == (ipaddress.ip_network("127.0.0.1/32"),)


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path).effective_database_url
    assert url == f"sqlite:///{(tmp_path / 'pigeon.db').resolve()}"
    explicit = Settings(data_dir=tmp_path, database_url="postgresql://h/db")
    assert explicit.effective_database_url == "postgresql://h/db"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_public_limits_hold_what_the_contract_names() -> None:
    limits = Settings(max_text_chars=123, send_rate_per_s=3.0).public_limits()
    assert set(limits) >= CONTRACT_LIMITS
    assert limits["max_text_chars"] == 123
    assert limits["send_rate_per_s"] == 3.0
    assert "jwt_secret" not in limits


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    [("user_search_min_chars", 1, 64), ("user_search_max_results", 1, 100)],
)
def test_user_search_bounds_at_their_edges(name: str, lowest: int, highest: int) -> None:
    for fine in (lowest, highest):
        settings = Settings(**{name: fine})
        assert getattr(settings, name) == fine
        assert settings.public_limits()[name] == fine
    for wrong in (lowest - 1, highest + 1):
        with pytest.raises(ValidationError):
            Settings(**{name: wrong})


def test_user_search_defaults() -> None:
    settings = Settings()
    assert (settings.user_search_min_chars, settings.user_search_max_results) == (2, 20)


ABUSE_LIMITS = {
    # name: (default, smallest allowed, largest allowed or None)
    "max_image_pixels": (16_000_000, 1, 89_478_485),
    "image_workers": (1, 1, 16),
    "upload_rate_per_min": (30, 1, None),
    "upload_quota_bytes": (1024**3, 1, None),
    "max_pending_uploads": (10, 1, None),
    "pending_upload_ttl_s": (3600, 1, None),
    "user_send_burst": (80, 1, None),
    "login_failures_per_min": (10, 1, None),
}


@pytest.mark.parametrize("name", sorted(ABUSE_LIMITS))
def test_abuse_limits_have_defaults_and_edges(name: str) -> None:
    default, low, high = ABUSE_LIMITS[name]
    assert getattr(Settings(), name) == default
    assert getattr(Settings(**{name: low}), name) == low
    with pytest.raises(ValidationError):
        Settings(**{name: low - 1})
    if high is not None:
        assert getattr(Settings(**{name: high}), name) == high
        with pytest.raises(ValidationError):
            Settings(**{name: high + 1})


def test_the_per_user_send_rate_must_be_positive() -> None:
    assert Settings().user_send_rate_per_s == 40.0
    assert Settings(user_send_rate_per_s=0.01).user_send_rate_per_s == 0.01
    with pytest.raises(ValidationError):
        Settings(user_send_rate_per_s=0)


def test_upload_and_send_limits_are_published() -> None:
    limits = Settings(upload_quota_bytes=5000, max_pending_uploads=3).public_limits()
    assert limits["upload_quota_bytes"] == 5000
    assert limits["max_pending_uploads"] == 3
    assert limits["upload_rate_per_min"] == 30
    assert limits["user_send_rate_per_s"] == 40.0
    assert limits["user_send_burst"] == 80
    assert limits["max_image_pixels"] == 16_000_000
