"""Human-readable rendering of Matcher.explain() output for editors (`python -m bot explain`).

Owns the wording and layout only; knows nothing about how matching works or where the dict came from.
"""

from __future__ import annotations

RULE_WORDS = {
    "exact": "exact word",
    "phrase+1word": "phrase with one extra word inside",
    "all_of": "all_of: every group found close together",
}


def _rule(rule: str) -> str:
    kind, _, detail = rule.partition(":")
    if kind == "fuzzy":
        return f"fuzzy spelling (score {detail})"
    if kind == "clitic":
        return f"prefix «{detail}» taken off"
    if kind == "context":
        return f"context word «{detail}» nearby"
    return RULE_WORDS.get(rule, rule)


def _who(item: dict) -> str:
    return f"{item.get('watchlist', '?')}/{item.get('entry', '?')} ({item.get('entry_name', '')})"


def _near_miss(item: dict) -> str:
    kind = item.get("kind")
    where = f"[{item.get('field', '?')}]"
    if kind == "fuzzy":
        return (f"  ~ {_who(item)} {where}: «{item.get('text')}» looks like term «{item.get('term')}», "
                f"score {item.get('score')} < threshold {item.get('threshold')}")
    if kind == "exclude":
        return (f"  ✗ {_who(item)} {where}: «{item.get('matched')}» vetoed by exclude "
                f"«{item.get('vetoed_by')}» («{item.get('exclude_text')}» in the same sentence)")
    if kind == "context":
        needs = "، ".join(item.get("needs_one_of", []))
        return (f"  ✗ {_who(item)} {where}: «{item.get('matched')}» needs context within "
                f"{item.get('within')} words, none found of: {needs}")
    if kind == "all_of":
        found = "; ".join("، ".join(g) or "—" for g in item.get("groups_found", []))
        missing = "; ".join("/".join(g) for g in item.get("missing", [])) or "none, but not within the window"
        return (f"  ✗ {_who(item)} {where}: all_of within {item.get('within')} words not met. "
                f"Found: {found}. Missing: {missing}")
    return f"  ? {item}"


def render_explanation(explanation: dict) -> str:
    """Text for an editor: the normalised fields, each match and why, then the near misses."""
    lines = ["Normalised text:"]
    for field, text in explanation.get("normalized", {}).items():
        lines.append(f"  [{field}] {text}")
    matches = explanation.get("matches", [])
    lines.append("")
    lines.append(f"Matches ({len(matches)}):" if matches else "Matches: none")
    for m in matches:
        rules = ", ".join(_rule(r) for r in m.get("rules", []))
        lines.append(f"  ✓ {_who(m)} [{m.get('field')} {m.get('start')}–{m.get('end')}]: "
                     f"«{m.get('matched')}» for term «{m.get('term')}», score {m.get('score'):g}; {rules}")
    misses = explanation.get("near_misses", [])
    lines.append("")
    lines.append(f"Near misses ({len(misses)}):" if misses else "Near misses: none")
    lines.extend(_near_miss(item) for item in misses)
    return "\n".join(lines)


def render_near_miss(item: dict) -> str:
    """One near miss from Matcher.explain() as one line (for `watchlist-test`'s "no longer" reasons)."""
    return _near_miss(item).strip()


def render_rules(rules) -> str:
    """A match's rules in words, as `explain` prints them ("exact word, prefix «و» taken off")."""
    return ", ".join(_rule(r) for r in rules)
