"""Print ``name==floor`` pins for every dependency that pyproject.toml declares (runtime and every extra).

CI's floors job installs exactly these pins into a fresh venv and runs the fast tests there, so the ``>=``
floors in pyproject.toml are the versions CI proves, and the two cannot drift: there is no second list.

Usage: ``python3 .ci/min_versions.py [path/to/pyproject.toml] > pins.txt``. Exits with a one-line error if a
dependency has no ``>=`` floor (a floor nobody tests is not a floor) or if two extras declare different floors.
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# "name>=1.2" optionally followed by ",<3" style caps; the floor is the one ">=" clause. No markers or extras:
# anything fancier fails loudly instead of being half-understood.
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<clauses>[<>=!~,.\s0-9A-Za-z*+]*)$")


def floor_of(requirement: str) -> tuple[str, str]:
    """Split one requirement string into its normalised name and its ``>=`` floor.

    Parameters
    ----------
    requirement : str
        A PEP 508 requirement without markers or extras, e.g. ``"torch>=2.6,<2.15"``.

    Returns
    -------
    tuple of (str, str)
        The PEP 503 normalised name (``"scikit-learn"``) and the floor version (``"2.6"``).

    Raises
    ------
    ValueError
        If the string is not of that form or has no (or more than one) ``>=`` clause.
    """
    match = REQUIREMENT.match(requirement.strip())
    if match is None:
        raise ValueError(f"requirement must be 'name>=version[,<cap]', got {requirement!r}")
    floors = [c.strip()[2:].strip() for c in match["clauses"].split(",") if c.strip().startswith(">=")]
    if len(floors) != 1 or not floors[0]:
        raise ValueError(f"requirement must have exactly one '>=' floor, got {requirement!r}")
    return re.sub(r"[-_.]+", "-", match["name"]).lower(), floors[0]


def declared_floors(pyproject: Path) -> dict[str, str]:
    """Every dependency's floor, runtime and all optional extras together.

    Parameters
    ----------
    pyproject : Path
        The project's pyproject.toml.

    Returns
    -------
    dict of str to str
        Normalised package name -> floor version, sorted by name.

    Raises
    ------
    ValueError
        If a requirement has no single ``>=`` floor, or the same package has different floors in two places.
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    floors: dict[str, str] = {}
    for requirement in requirements:
        name, floor = floor_of(requirement)
        if floors.setdefault(name, floor) != floor:
            raise ValueError(f"{name} must have one floor everywhere in {pyproject}, got {floors[name]} and {floor}")
    return dict(sorted(floors.items()))


def main(argv: list[str]) -> int:
    pyproject = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        floors = declared_floors(pyproject)
    except (OSError, ValueError, KeyError) as e:
        print(f"min_versions: {e}", file=sys.stderr)
        return 1
    print("\n".join(f"{name}=={floor}" for name, floor in floors.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
