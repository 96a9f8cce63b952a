"""Write the bundled keyword-query set (``assets/news_es_keywords.jsonl``): queries typed the way people
search for names, places, figures and rare terms, each with the news item it asks for.

For every fourth bundled news item (a fixed choice), the query is three rare words of its body (among
the words used in at most two items: names first, then figures, then the longest other words), in the
order the body uses them, at most one taken from the headline. Ships as a file so that every figure is
measured on the same queries; this command rebuilds it.

    python -m benchmarks keywords [--output assets/news_es_keywords.jsonl]
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from core.cli import Parser
from core.corpora.data import load_news
from core.corpora.lexical import stop_words
from core.io import write_file_atomically
from core.paths import PROJECT_ROOT

OUTPUT = PROJECT_ROOT / "assets" / "news_es_keywords.jsonl"
_WORD = re.compile(r"[\wÁÉÍÓÚÜÑáéíóúüñ][\w,.%ÁÉÍÓÚÜÑáéíóúüñ-]*[\wÁÉÍÓÚÜÑáéíóúüñ%]|\w\w")


def _words(text: str) -> list[str]:
    return [word.strip(",.") for word in _WORD.findall(text)]


def keyword_queries(news: list[dict], every: int = 4) -> list[dict]:
    """``{"query", "id"}`` rows: rare words of each chosen item's body, names and figures first."""
    frequency = Counter(
        word.lower() for item in news for word in set(_words(item["title"] + " " + item["body"]))
    )
    stop = stop_words()
    rows = []
    for number, item in enumerate(news):
        if number % every:
            continue
        title = {word.lower() for word in _words(item["title"])}
        seen, candidates = set(), []
        for position, word in enumerate(_words(item["body"])):
            lower = word.lower()
            if lower in stop or lower in seen or len(word) < 4 or position == 0:
                continue  # the first word is capitalised by position, not because it is a name
            seen.add(lower)
            kind = 0 if word[0].isupper() else 1 if any(char.isdigit() for char in word) else 2
            rank = (frequency[lower] > 2, kind, frequency[lower], -len(word))
            candidates.append((rank, position, word, lower in title))
        chosen, from_title = [], 0
        for candidate in sorted(candidates):
            if candidate[3] and from_title:
                continue
            from_title += candidate[3]
            chosen.append(candidate)
            if len(chosen) == 3:
                break
        if len(chosen) >= 2:
            words = [word for _, _, word, _ in sorted(chosen, key=lambda c: c[1])]
            rows.append({"query": " ".join(words), "id": item["id"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks keywords", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = keyword_queries(load_news())
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_file_atomically(args.output, lambda handle: handle.write(text))
    print(f"wrote {len(rows)} keyword queries to {args.output}")
    return 0
