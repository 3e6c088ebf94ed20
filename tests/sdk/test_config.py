"""Where the SDK finds the platform and its key: arguments, then the environment, then a profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_client.config import DEFAULT_URL, resolve
from automl_client.errors import ConfigurationError


def write_profiles(path: Path, key_file: Path) -> Path:
    key_file.write_text("aml_fromfile_key\n")
    path.write_text(
        f'[default]\nurl = "http://127.0.0.1:9000"\napi_key_file = "{key_file}"\n\n'
        '[staging]\nurl = "https://automl.staging.test/"\napi_key = "aml_staging_key"\ntimeout_s = 5\n'
    )
    return path


def test_arguments_beat_the_environment_which_beats_the_profile(tmp_path: Path) -> None:
    profiles = write_profiles(tmp_path / "config.toml", tmp_path / "admin.key")
    environ = {"AUTOML_CONFIG": str(profiles)}
    from_profile = resolve(environ=environ)
    assert (from_profile.url, from_profile.api_key) == ("http://127.0.0.1:9000", "aml_fromfile_key")
    environ |= {"AUTOML_URL": "http://10.0.0.1:8080", "AUTOML_API_KEY": "aml_env_key"}
    from_env = resolve(environ=environ)
    assert (from_env.url, from_env.api_key) == ("http://10.0.0.1:8080", "aml_env_key")
    from_args = resolve("http://127.0.0.1:1", "aml_arg_key", environ=environ)
    assert (from_args.url, from_args.api_key) == ("http://127.0.0.1:1", "aml_arg_key")
    assert "aml_arg_key" not in repr(from_args)


def test_a_named_profile(tmp_path: Path) -> None:
    profiles = write_profiles(tmp_path / "config.toml", tmp_path / "admin.key")
    staging = resolve(profile="staging", environ={"AUTOML_CONFIG": str(profiles)})
    assert (staging.url, staging.api_key, staging.timeout_s) == ("https://automl.staging.test", "aml_staging_key", 5)
    same = resolve(environ={"AUTOML_CONFIG": str(profiles), "AUTOML_PROFILE": "staging"})
    assert same == staging
    with pytest.raises(ConfigurationError, match="no \\[prod\\] section"):
        resolve(profile="prod", environ={"AUTOML_CONFIG": str(profiles)})


def test_no_key_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="AUTOML_API_KEY"):
        resolve(environ={"AUTOML_CONFIG": str(tmp_path / "absent.toml")})
    assert resolve(api_key="aml_k", environ={"AUTOML_CONFIG": str(tmp_path / "absent.toml")}).url == DEFAULT_URL
    with pytest.raises(ConfigurationError, match="http"):
        resolve("ftp://somewhere", "aml_k", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[default\n")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        resolve(environ={"AUTOML_CONFIG": str(broken)})
