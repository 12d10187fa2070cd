import os

import pytest

from app.config import PROJECT_ROOT, ConfigError, Settings, load_settings

STRONG_SECRET = "s3cr3t-" + "x" * 40


def load(tmp_path, monkeypatch, env_text: str = "", **environ: str):
    """Settings read the way the app reads them: from the environment and a .env file."""
    for name in list(os.environ):
        if name.upper() in Settings.model_fields or name.lower() in Settings.model_fields:
            monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    env_file = tmp_path / ".env"
    env_file.write_text(env_text)
    return load_settings(env_file=env_file)


def test_development_defaults_need_no_configuration(tmp_path, monkeypatch):
    settings = load(tmp_path, monkeypatch)
    assert settings.flask_env == "development"
    assert settings.port == 5000 and settings.host == "127.0.0.1"
    assert settings.async_mode == "gevent"
    assert settings.uses_embedded_postgres and settings.uses_embedded_redis
    assert settings.local_auth is True
    assert settings.max_connections_per_ip == 5
    assert settings.rate_limit_questions == 10 and settings.rate_limit_window == 60


def test_development_secrets_are_generated_once_and_kept(tmp_path, monkeypatch):
    first = load(tmp_path, monkeypatch)
    second = load(tmp_path, monkeypatch)
    assert first.secret_key and first.secret_key == second.secret_key
    assert first.supabase_jwt_secret == second.supabase_jwt_secret
    assert (tmp_path / "data" / "dev-secrets.json").stat().st_mode & 0o077 == 0


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    settings = load(tmp_path, monkeypatch, "PORT=6000\nRATE_LIMIT_QUESTIONS=3\n", PORT="7000")
    assert settings.port == 7000
    assert settings.rate_limit_questions == 3


def test_every_malformed_value_is_reported_at_once(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            monkeypatch,
            PORT="not-a-port",
            ASYNC_MODE="tornado",
            DATABASE_URL="mysql://localhost/db",
            REDIS_URL="localhost:6379",
            RATE_LIMIT_QUESTIONS="0",
        )
    text = str(info.value)
    for name in ("PORT", "ASYNC_MODE", "DATABASE_URL", "REDIS_URL", "RATE_LIMIT_QUESTIONS"):
        assert name in text
    assert len(info.value.problems) == 5
    assert "Traceback" not in text


def test_passwords_in_malformed_urls_are_not_echoed(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, monkeypatch, DATABASE_URL="mysql://admin:hunter2@db/pizarra")
    assert "hunter2" not in str(info.value)
    assert "mysql://***@db/pizarra" in str(info.value)


def test_cors_origins_and_prepare_threshold_are_parsed(tmp_path, monkeypatch):
    settings = load(
        tmp_path,
        monkeypatch,
        CORS_ORIGINS="http://localhost:5173, https://pizarra.example",
        DATABASE_PREPARE_THRESHOLD="none",
    )
    assert settings.cors_origins == ["http://localhost:5173", "https://pizarra.example"]
    assert settings.database_prepare_threshold is None


def test_production_refuses_development_defaults(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, monkeypatch, FLASK_ENV="production")
    problems = "\n".join(info.value.problems)
    assert "SECRET_KEY" in problems
    assert "DATABASE_URL" in problems
    assert "REDIS_URL" in problems
    assert "SUPABASE_JWT_SECRET or SUPABASE_URL" in problems
    assert not (tmp_path / "data" / "dev-secrets.json").exists()


def test_production_refuses_local_auth_and_dev_secrets(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            monkeypatch,
            FLASK_ENV="production",
            SECRET_KEY=STRONG_SECRET,
            DATABASE_URL="postgresql://u@db/pizarra",
            REDIS_URL="redis://cache:6379/0",
            SUPABASE_JWT_SECRET="dev-abc",
            LOCAL_AUTH="true",
        )
    problems = "\n".join(info.value.problems)
    assert "LOCAL_AUTH" in problems
    assert "SUPABASE_JWT_SECRET" in problems


def test_production_starts_with_real_configuration(tmp_path, monkeypatch):
    settings = load(
        tmp_path,
        monkeypatch,
        FLASK_ENV="production",
        SECRET_KEY=STRONG_SECRET,
        DATABASE_URL="postgresql://u@db/pizarra",
        REDIS_URL="redis://cache:6379/0",
        SUPABASE_URL="https://abc.supabase.co/",
    )
    assert settings.local_auth is False
    assert settings.supabase_jwks_url == "https://abc.supabase.co/auth/v1/.well-known/jwks.json"


def test_env_example_loads_as_is_and_documents_every_setting(tmp_path, monkeypatch):
    example = (PROJECT_ROOT / ".env.example").read_text()
    settings = load(tmp_path, monkeypatch, example.replace("DATA_DIR=.data\n", ""))
    assert settings.flask_env == "development"
    assert settings.uses_embedded_postgres and settings.uses_embedded_redis
    assert settings.secret_key and settings.secret_key.startswith("dev-")
    assert settings.cors_origins == ["http://localhost:5173"]
    documented = {line.split("=", 1)[0].lower() for line in example.splitlines() if "=" in line}
    assert set(Settings.model_fields) <= documented
