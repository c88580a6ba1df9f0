"""Keep the dependency diagram true: stages import models (and their own helpers), never each other."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"

# Every module's allowed `bot.*` imports. A new module must be added here on purpose.
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "models": set(),
    # normalisation and matching (pure)
    "normalize": set(),
    "tokens": {"normalize"},
    "termindex": {"normalize", "tokens"},
    "phrases": {"normalize", "termindex", "tokens"},
    "match": {"models", "normalize", "phrases", "termindex", "tokens"},
    "explain": set(),
    "watchtest": {"explain", "match", "models"},
    "stories": {"models", "normalize"},
    # stages
    "config": {"models", "normalize"},
    "fetch": {"models", "retry"},
    "retry": set(),
    "parse": {"models", "htmltext", "urls", "feeddates"},
    "parsepool": {"models", "parse"},
    "htmltext": set(),
    "urls": set(),
    "feeddates": set(),
    "fulltext": {"models", "extract", "pagehttp", "retry"},
    "extract": set(),
    "pagehttp": {"models", "retry"},
    "store": {"models", "schema", "storeconn", "storechats", "storestories", "storealerts", "storepages"},
    "storepages": {"schema", "storeconn"},
    "storealerts": {"models", "schema", "storeconn", "storestories"},
    "storeconn": set(),
    "storechats": {"schema", "storeconn"},
    "storestories": {"models", "schema", "storeconn"},
    "schema": {"urls", "normalize"},
    "render": {"models", "messages"},
    "messages": set(),
    "notify": {"models", "render", "messages", "holds", "callbacks", "pacer"},
    "holds": {"models"},
    "callbacks": {"models"},
    "pacer": set(),
    "commands": {"models", "callbacks", "messages", "commands_admin", "commands_core", "commands_keys",
                 "commands_prefs"},
    "commands_core": {"models", "messages", "holds", "callbacks"},
    "commands_admin": {"commands_core", "callbacks", "holds", "messages", "models"},
    "commands_prefs": {"commands_core", "callbacks", "holds", "messages", "models"},
    "commands_keys": {"commands_core", "callbacks", "holds", "messages", "models"},
    # orchestration, wiring and operations
    "pipeline": {"models", "fetch", "parse", "match", "store", "stories", "fulltext", "urls", "retry"},
    "logsetup": {"models"},
    "metrics": {"models"},
    "status": {"models"},
    "opml": {"models"},
    "health": {"models", "config", "store"},
    "app": {"models", "config", "fetch", "pipeline", "logsetup", "match", "notify", "store", "commands", "metrics",
            "health", "fulltext", "urls", "parsepool"},
    "cli": {"config", "app", "match", "explain", "store", "__init__", "health", "status", "opml",
            "watchtest"},
}


def bot_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "bot":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("bot."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("bot.")}
    return {"__init__" if name == "__version__" else name for name in found}


def test_every_module_is_known_and_keeps_its_layer():
    problems = []
    for path in sorted(BOT.glob("*.py")):
        name = path.stem
        if name not in ALLOWED:
            problems.append(f"{name}: not in the layering table")
            continue
        extra = bot_imports(path) - ALLOWED[name] - {name}
        if extra:
            problems.append(f"{name} imports {sorted(extra)}")
    assert not problems, problems


def test_nothing_runs_at_import_time():
    for path in sorted(BOT.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                raise AssertionError(f"{path.name}:{node.lineno} calls something at import time")
