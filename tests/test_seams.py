"""The seams of issue 27, held at zero: every query in a repository, only the unit of work commits, every
internal read parsed into a declared type, no file over 400 lines. ``python -m bench.seams`` lists any site."""

from __future__ import annotations

import ast

from bench import seams
from bench.seams import measure

# Each is 0 (see bench/seams.py for what is counted).
CEILINGS = {
    "queries outside repositories": 0,
    "hand commits": 0,
    "internal reads returning dicts": 0,
    "files over 400 lines": 0,
}


def test_no_seam_count_grows() -> None:
    counts = measure().as_numbers()
    grown = {name: (number, CEILINGS[name]) for name, number in counts.items() if number > CEILINGS[name]}
    assert not grown, f"counts over their ceilings (found, ceiling): {grown}; run python -m bench.seams"


def test_the_counter_finds_what_it_counts() -> None:
    source = (
        "from sqlalchemy import select\n"
        "async def f(session, client):\n"
        "    rows = await session.execute(select(T))\n"
        "    await session.commit()\n"
        "    answer = await client.get('/x')\n"
        "    body = answer.json()\n"
        "    typed = Model.model_validate(answer.json())\n"
    )
    tree = ast.parse(source)
    assert sorted(set(seams.query_sites(tree))) == [3]
    assert list(seams.commit_sites(tree)) == [4]
    assert list(seams.dict_reads(tree)) == [6]
