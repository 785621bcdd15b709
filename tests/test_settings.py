"""The settings object: sources in rising priority, and one clear line for a bad value."""

from pathlib import Path

import pytest

from phronosd import settings
from phronosd.settings import SettingsError, load


def test_defaults(tmp_path):
    s = load({}, env={}, cwd=tmp_path)
    assert (s.host, s.port, s.unix_socket) == ("127.0.0.1", 3001, None)
    assert (s.concurrency, s.max_queued, s.default_timeout_ms, s.max_timeout_ms) == (5, 50, 30000, 120000)
    assert (s.memory_mb, s.cpus, s.output_limit_bytes, s.max_body_bytes) == (512, 1.0, 1 << 20, 2 << 20)
    assert (s.default_runs, s.max_runs, s.measure_budget_ms) == (100, 1000, 60000)
    assert s.cors_origins == ()


def test_priority_toml_dotenv_env_cli(tmp_path):
    config = tmp_path / "phronosd.toml"
    config.write_text('port = 4000\nconcurrency = 2\nmax_queued = 7\ncors_origins = ["https://a.example"]\n')
    (tmp_path / ".env").write_text("# comment\nPHRONOSD_CONCURRENCY=3\nexport PHRONOSD_MAX_RUNS='500'\n")
    env = {"PHRONOSD_CONCURRENCY": "4", "PORT": "4001", "FRONTEND_URL": "https://b.example,https://c.example"}
    s = load({"config": str(config), "concurrency": "6"}, env=env, cwd=tmp_path)
    assert s.concurrency == 6  # CLI beats env, .env and TOML
    assert s.port == 4001  # legacy PORT beats TOML
    assert s.max_queued == 7  # TOML beats the default
    assert s.max_runs == 500  # .env beats the default
    assert s.cors_origins == ("https://b.example", "https://c.example")


def test_prefixed_env_beats_legacy(tmp_path):
    assert load({}, env={"PORT": "1", "PHRONOSD_PORT": "2"}, cwd=tmp_path).port == 2


@pytest.mark.parametrize(
    "cli, needle",
    [
        ({"port": "http"}, "setting port: expected a whole number from 0 to 65535"),
        ({"port": "70000"}, "setting port"),
        ({"cpus": "lots"}, "setting cpus"),
        ({"default_timeout_ms": "200000"}, "setting default_timeout_ms: larger than max_timeout_ms"),
        ({"log_level": "loud"}, "setting log_level"),
    ],
)
def test_bad_values_name_the_setting(tmp_path, cli, needle):
    with pytest.raises(SettingsError) as error:
        load(cli, env={}, cwd=tmp_path)
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_toml_key_and_broken_toml(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load({"config": str(config)}, env={}, cwd=tmp_path)
    config.write_text("port = \n")
    with pytest.raises(SettingsError, match="config file"):
        load({"config": str(config)}, env={}, cwd=tmp_path)


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="config file"):
        load({"config": str(tmp_path / "absent.toml")}, env={}, cwd=tmp_path)


def test_every_setting_has_a_cli_flag():
    import argparse

    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    args = vars(parser.parse_args(["--max-queued", "9", "--unix-socket", "/run/x.sock"]))
    assert args["max_queued"] == "9" and args["unix_socket"] == "/run/x.sock"
    assert set(settings.FIELDS) <= set(args)


def test_default_config_file_is_optional(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DEFAULT_CONFIG", Path(tmp_path / "none.toml"))
    assert load({}, env={}, cwd=tmp_path).port == 3001
