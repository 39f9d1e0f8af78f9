"""Split ``reproduce.md`` into its sections for the dashboard (pure, torch-free, no Streamlit).

A section is a ``## `` heading and what follows it up to the next one; within it the claim (the paragraph that
starts with ``**Claim.**``), the verdicts (the bullet list after ``**Measured here.**``), the figures (image links,
resolved against the report's folder) and the remaining text (description and tables).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

IMAGE = re.compile(r"^!\[[^\]]*\]\(([^)]+)\)\s*$")


@dataclass
class ReportSection:
    title: str
    claim: str = ""
    body: str = ""
    verdicts: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


@dataclass
class ParsedReport:
    title: str
    intro: str
    sections: list[ReportSection]


def parse_report(text: str, base: Path | str = ".") -> ParsedReport:
    base = Path(base)
    title, intro, sections = "", [], []
    current: ReportSection | None = None
    body: list[str] = []
    in_verdicts = False

    def close():
        if current is not None:
            current.body = "\n".join(body).strip()
            sections.append(current)

    for line in text.splitlines():
        if line.startswith("# ") and not title:
            title = line[2:].strip()
        elif line.startswith("## "):
            close()
            current, body, in_verdicts = ReportSection(line[3:].strip()), [], False
        elif current is None:
            intro.append(line)
        elif line.startswith("**Claim.**"):
            current.claim = line[len("**Claim.**"):].strip()
        elif line.strip() == "**Measured here.**":
            in_verdicts = True
        elif in_verdicts and line.startswith("- "):
            current.verdicts.append(line[2:].strip())
        elif (m := IMAGE.match(line.strip())):
            current.figures.append(base / m.group(1))
        elif not (in_verdicts and not line.strip()):
            in_verdicts = False if line.strip() else in_verdicts
            body.append(line)
    close()
    return ParsedReport(title, "\n".join(intro).strip(), sections)
