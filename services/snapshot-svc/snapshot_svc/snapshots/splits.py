"""Deterministic stratified train/test splits of a snapshot.

Rows are ordered by a hash of (seed, row id): the same seed gives the same split, another seed another one.
Every class of every head with at least two examples gets one in each part; the rest of the test part is
filled stratum by stratum (the stratum is a row's label on its first labelled head), in proportion. Rows with
the same input (exact duplicates: one text, image or prompt) go to the same part, the part of the first of
them in hash order, so that no test row was seen in training; the parts' sizes move by the duplicates at most."""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class SplitResult:
    test: list[bool]
    heads: list[dict[str, Any]]

    @property
    def test_rows(self) -> int:
        return sum(self.test)

    @property
    def train_rows(self) -> int:
        return len(self.test) - self.test_rows


def _order_key(seed: int, row_id: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{row_id}".encode(), digest_size=8).digest()


def compute_split(path: Path, head_names: list[str], multilabel: list[bool], test_pct: float, seed: int) -> SplitResult:
    table = pq.read_table(path, columns=["row_id", "input_hash", *(f"label:{name}" for name in head_names)])
    row_ids: list[int] = table.column("row_id").to_pylist()
    hashes: list[str] = table.column("input_hash").to_pylist()
    labels: list[list[list[str]]] = []  # per head, per row
    for name, multi in zip(head_names, multilabel, strict=True):
        column = table.column(f"label:{name}").to_pylist()
        labels.append([value or [] for value in column] if multi else [[value] if value else [] for value in column])
    n = len(row_ids)
    # Hash order, with the copies of one input side by side (a group sorts by its first row's key), so that
    # the fills below take a group whole.
    group_key: dict[str, bytes] = {}
    for position in range(n):
        own = _order_key(seed, row_ids[position])
        known = group_key.get(hashes[position])
        group_key[hashes[position]] = own if known is None else min(known, own)
    order = sorted(range(n), key=lambda position: (group_key[hashes[position]], _order_key(seed, row_ids[position])))
    rank = {position: rank for rank, position in enumerate(order)}
    target = min(n - 1, max(1, round(n * test_pct / 100))) if n >= 2 else 0
    test = [False] * n

    members: dict[tuple[int, str], list[int]] = defaultdict(list)
    for head_index, head_labels in enumerate(labels):
        for position in order:
            for label in head_labels[position]:
                members[(head_index, label)].append(position)
    # 1. Every class with two or more examples: its first row (in hash order) goes to test.
    for key in sorted(members, key=lambda key: (len(members[key]), key)):
        rows = members[key]
        if len(rows) >= 2 and not any(test[position] for position in rows):
            test[rows[0]] = True
    # 2. Fill the test part in proportion within each stratum.
    strata: dict[str, list[int]] = defaultdict(list)
    for position in order:
        strata[_stratum(labels, position)].append(position)
    for rows in strata.values():
        quota = math.floor(len(rows) * test_pct / 100)
        have = sum(test[position] for position in rows)
        for position in rows:
            if have >= quota:
                break
            if not test[position]:
                test[position] = True
                have += 1
    # 3. Meet the exact size: add rows in hash order, or give back rows no class guarantee needs.
    needed = {rows[0] for rows in members.values() if len(rows) >= 2}
    count = sum(test)
    for position in order:
        if count >= target:
            break
        if not test[position]:
            test[position] = True
            count += 1
    for position in reversed(order):
        if count <= target:
            break
        if test[position] and position not in needed:
            test[position] = False
            count -= 1
    # 4. Every class with two or more examples keeps one in train.
    for rows in members.values():
        if len(rows) >= 2 and all(test[position] for position in rows):
            test[max(rows, key=lambda position: rank[position])] = False
    # 5. Duplicates together, where the first of them (in hash order) is.
    first_of: dict[str, bool] = {}
    for position in order:
        part = first_of.setdefault(hashes[position], test[position])
        test[position] = part

    heads = []
    for head_index, name in enumerate(head_names):
        train_counts: Counter[str] = Counter()
        test_counts: Counter[str] = Counter()
        for position, row_labels in enumerate(labels[head_index]):
            (test_counts if test[position] else train_counts).update(row_labels)
        classes = sorted(set(train_counts) | set(test_counts))
        heads.append(
            {"name": name, "classes": [{"name": c, "train": train_counts[c], "test": test_counts[c]} for c in classes]}
        )
    return SplitResult(test, heads)


def _stratum(labels: list[list[list[str]]], position: int) -> str:
    for head_index, head_labels in enumerate(labels):
        if head_labels[position]:
            return f"{head_index}:{'|'.join(head_labels[position])}"
    return "-"


def write_split(path: Path, result: SplitResult) -> None:
    pq.write_table(pa.table({"test": pa.array(result.test, pa.bool_())}), path)
