"""The Lessons, one registered unit per scene: the teaching runs it shows (each a run name, the preset that trains it
and the role it plays, written to the run's ``run.json`` tags), its title, and its claim as a template filled from
those runs' configs — no margin, dimension or K is typed into the prose.

Everything else derives from here: ``proxylab demo``'s run list and tags (:func:`demo_runs`), the dashboard pages'
default runs (:data:`PAGE_ROLES`), the Lessons page's order. The dashboard measures each scene's numbers
(``dashboard/scenes.py``) and draws its figure (``dashboard/views/lessons.py``); ``tests/test_lessons_registry.py``
fails a scene without a measurement test and a picture test. Torch-free, like the rest of the dashboard's path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Role:
    """A teaching run a scene shows: the tag it carries, its name in the demo's store and its preset. With several
    ``seeds`` the demo trains one run per seed: ``run`` (tagged ``tag``) at the first, ``run-s<seed>`` (tagged
    ``tag/seed<seed>``) at the others, so that a scene can state a number over seeds."""
    tag: str
    run: str
    preset: str
    seeds: tuple[int, ...] = (0,)

    def seed_runs(self) -> tuple[tuple[str, str, int], ...]:
        """(run name, tag, seed) of each seed's run, the first seed's first."""
        first, *rest = self.seeds
        return ((self.run, self.tag, first), *((f"{self.run}-s{s}", f"{self.tag}/seed{s}", s) for s in rest))


Configs = Mapping[str, Mapping[str, Any]]  # role tag → that run's config (run.json "config")


@dataclass(frozen=True)
class Scene:
    """One scene of the Lessons page.

    ``claim`` is a ``str.format`` template; ``facts(configs)`` gives its fields from the configs of the scene's runs
    (by role tag), so the sentence follows the runs it is shown on.
    """
    key: str
    title: str
    roles: tuple[Role, ...]  # in the order the scene shows them
    claim: str
    facts: Callable[[Configs], dict[str, Any]] = field(default=lambda configs: {})

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(r.tag for r in self.roles)

    def takeaway(self, configs: Configs) -> str:
        """The claim filled from `configs` (role tag → config); a value a config lacks reads "?"."""
        return self.claim.format_map(_Missing(self.facts(configs)))


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _get(configs: Configs, tag: str, *path: str) -> Any:
    """configs[tag][path[0]][path[1]]…, or "?" when any of it is missing."""
    value: Any = configs.get(tag, {})
    for key in path:
        value = value.get(key, "?") if isinstance(value, Mapping) else "?"
    return value


def _margin(configs: Configs, tag: str) -> Any:
    loss_params = _get(configs, tag, "loss_params")
    return loss_params.get("margin", "?") if isinstance(loss_params, Mapping) else "?"


SINGLE = Role("coverage/single", "demo-single-proxy", "single-proxy")
TWO = Role("coverage/multi", "demo-two-proxies", "two-proxies")
MULTI = "demo-multi-proxy", "multi-proxy"  # K = 4: the usage, margin, SO and gradient lessons share this run

SCENES: tuple[Scene, ...] = (
    Scene("data", "1 · Classes with several centres", (TWO,),
          "A class need not be one blob: here every class has {modes} modes far apart on the sphere, and its "
          "second mode lies next to another class's first.",
          lambda c: {"modes": _get(c, TWO.tag, "data_params", "modes_per_class")}),
    Scene("coverage", "2 · One proxy per class vs several", (SINGLE, TWO),
          "One proxy sits between its class's {modes} modes, near neither, and many samples end up nearer another "
          "class's proxy (red); {k} sub-proxies land one on each mode. The data stay fixed: press ▶ to watch the "
          "proxies move.",
          lambda c: {"modes": _get(c, TWO.tag, "data_params", "modes_per_class"),
                     "k": _get(c, TWO.tag, "proxies_per_class")}),
    Scene("usage", "3 · Sub-proxy usage and dead sub-proxies", (Role("usage", *MULTI),),
          "Give a class with {modes} modes K = {k} sub-proxies and its samples use about {modes} of them: the "
          "others are the most similar sub-proxy of almost none of its samples — dead weight.",
          lambda c: {"modes": _get(c, "usage", "data_params", "modes_per_class"),
                     "k": _get(c, "usage", "proxies_per_class")}),
    Scene("margin", "4 · The margin decides where proxies sit",
          (Role("margin/small", "demo-small-margin", "multi-proxy-small-margin"), Role("margin/large", *MULTI)),
          "Proxy Anchor (and the MPA family) only ask a sample's cosine to its proxy to pass the margin δ: with "
          "δ = {small} (Proxy Anchor's default) the proxies float far from their data, with δ = {large} they sit "
          "on it.",
          lambda c: {"small": _margin(c, "margin/small"), "large": _margin(c, "margin/large")}),
    Scene("orthogonality", "5 · Soft orthogonality and its geometric limit",
          (Role("so/off", *MULTI), Role("so/on", "demo-multi-proxy-so", "multi-proxy-so")),
          "Soft orthogonality pushes the proxies apart until the mean squared cosine meets the Welch floor: "
          "{n} unit vectors in {d} dimensions cannot all be orthogonal.",
          lambda c: {"n": _product(_get(c, "so/on", "data_params", "num_classes"),
                                   _get(c, "so/on", "proxies_per_class")),
                     "d": _get(c, "so/on", "embedding_dim")}),
    Scene("gradients", "6 · Class-wise vs data-wise gradients",
          (Role("gradients/class-wise", *MULTI), Role("gradients/data-wise", "demo-data-wise", "data-wise")),
          "Class-wise Proxy Anchor ({class_wise}) shares a bounded gradient among a class's samples, so a few hard "
          "samples carry most of it; data-wise {data_wise} bounds each sample's gradient, so it spreads out.",
          lambda c: {"class_wise": _get(c, "gradients/class-wise", "loss"),
                     "data_wise": _get(c, "gradients/data-wise", "loss")}),
    Scene("convergence", "7 · Proxies vs triplets: a fair race",
          (Role("convergence/proxy", "demo-proxy-nca", "convergence-proxy-nca", seeds=(0, 1, 2)),
           Role("convergence/triplet", "demo-triplet", "convergence-triplet", seeds=(0, 1, 2))),
          "A proxy loss compares each sample with C proxies instead of mining triplets from the batch. Given the "
          "same model, data and steps, and each loss its own best settings, both reach a high R@1: the proxies "
          "start faster, the triplets catch up."),
)
SCENE_KEYS = tuple(s.key for s in SCENES)

#: the run each dashboard page opens on, by the role tag it carries ("overview": the Embedding page's d = 8 run)
OVERVIEW = Role("overview", *MULTI)
PAGE_ROLES = {"embedding": OVERVIEW.tag, "gradients": "gradients/data-wise", "orthogonality": "so/on",
              "single": SINGLE.tag, "multi": TWO.tag, "class-wise": "gradients/class-wise"}


def _product(a: Any, b: Any) -> Any:
    return a * b if isinstance(a, int) and isinstance(b, int) else "?"


def scene(key: str) -> Scene:
    if key not in SCENE_KEYS:
        raise ValueError(f"unknown scene {key!r}; valid: {', '.join(SCENE_KEYS)}")
    return SCENES[SCENE_KEYS.index(key)]


def roles() -> tuple[Role, ...]:
    """Every role of every scene and page, each once, in the order the scenes show them."""
    seen: dict[str, Role] = {}
    for role in (*(r for s in SCENES for r in s.roles), OVERVIEW):
        seen.setdefault(role.tag, role)
    return tuple(seen.values())


def demo_runs() -> dict[str, tuple[str, tuple[str, ...], int]]:
    """``proxylab demo``'s runs: name → (preset, role tags it carries, seed), in the order the scenes first show
    them."""
    runs: dict[str, tuple[str, list[str], int]] = {}
    for role in roles():
        for name, tag, seed in role.seed_runs():
            preset, tags, _ = runs.setdefault(name, (role.preset, [], seed))
            if preset != role.preset:
                raise ValueError(f"run {name!r} is registered with presets {preset!r} and {role.preset!r}")
            tags.append(tag)
    return {name: (preset, tuple(tags), seed) for name, (preset, tags, seed) in runs.items()}
