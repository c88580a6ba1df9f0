"""`[storage] cache_mib`: the SQLite page cache the daemon's connection may fill (and keep) — read, checked, applied."""

from __future__ import annotations

import io

import pytest

from bot import config as config_mod
from bot.app import Daemon
from bot.store import CACHE_MIB, Store
from tests.builders import write_config


def cache_kib(store: Store) -> int:
    return -store.db.execute("pragma cache_size").fetchone()[0]


def test_the_store_applies_its_page_cache_size(tmp_path):
    store = Store(tmp_path / "a.db")
    try:
        assert cache_kib(store) == CACHE_MIB * 1024
    finally:
        store.close()
    store = Store(tmp_path / "b.db", cache_mib=3)
    try:
        assert cache_kib(store) == 3 * 1024
    finally:
        store.close()


async def test_the_daemon_opens_its_store_with_the_configured_cache(tmp_path):
    path = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", storage={"cache_mib": 5})
    config = config_mod.load(path)
    assert config.storage.cache_mib == 5
    daemon = Daemon(config, None, stream=io.StringIO())
    try:
        assert cache_kib(daemon.store) == 5 * 1024
    finally:
        await daemon.close()
    default = config_mod.load(write_config(tmp_path / "default.toml", database=tmp_path / "bot.db"))
    assert default.storage.cache_mib == CACHE_MIB


@pytest.mark.parametrize("value", [0, -1, "8", 1.5, 5000])
def test_a_bad_cache_size_is_a_clear_config_error(tmp_path, value):
    path = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", storage={"cache_mib": value})
    with pytest.raises(config_mod.ConfigError, match="cache_mib"):
        config_mod.load(path)
