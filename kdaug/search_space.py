"""`kdaug search`'s search space: each role's augmenters and knob values (YAML, --space), the seeded
population of policies drawn from it, and successive halving's rungs."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from pathlib import Path

NONE = "no augmentation"

# Each role's space: the augmenters a policy may use, each knob's candidate values, and how many
# augmenters one policy combines. The student's follows the papers (KD likes ~30-50% changed tokens and
# many copies; AugPro's projection); the teacher's is lighter (fine-tuning prefers ~10%).
DEFAULT_SPACE: dict[str, dict] = {
    "teacher": {
        "max_augmenters": 1,
        "augmenters": {
            "synonym": {"ratio": [0.05, 0.1, 0.2, 0.3], "copies": [1, 2, 4]},
            "knn": {"ratio": [0.05, 0.1, 0.2, 0.3], "copies": [1, 2, 4]},
        },
    },
    "student": {
        "max_augmenters": 2,
        "augmenters": {
            "synonym": {"ratio": [0.1, 0.2, 0.3, 0.4, 0.5], "copies": [2, 4, 8]},
            "knn": {"ratio": [0.1, 0.2, 0.3, 0.4, 0.5], "copies": [2, 4, 8]},
            "augpro_mix": {"mu": [0.3, 0.4, 0.5], "copies": [2, 4, 8]},
        },
    },
}
ROLES = ("teacher", "student")


def load_space(path: str | None, roles: list[str]) -> dict[str, dict]:
    """Each searched role's space, validated: known augmenters, non-empty candidate lists, specs that parse."""
    import yaml

    from kdaug.core.augment import REGISTRY, keeps_gold_label, parse_augment_spec
    from kdaug.core.errors import KdaugError

    space = copy.deepcopy(DEFAULT_SPACE)
    if path:
        try:
            given = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise KdaugError(f"--space {path}: {err}") from None
        if not isinstance(given, dict) or set(given) - set(ROLES):
            raise KdaugError(f"--space {path}: expected a mapping with keys among {ROLES}")
        space.update(given)
    for role in roles:
        s = space[role]
        augmenters = s.get("augmenters") if isinstance(s, dict) else None
        if not isinstance(augmenters, dict) or not augmenters:
            raise KdaugError(f"--space: role {role!r} needs augmenters: {{METHOD: {{KNOB: [values]}}}}")
        if not isinstance(s.get("max_augmenters", 1), int) or s.get("max_augmenters", 1) < 1:
            raise KdaugError(f"--space: role {role!r}: max_augmenters must be a positive integer")
        for method, knobs in augmenters.items():
            if not isinstance(knobs, dict) or not all(isinstance(v, list) and v for v in knobs.values()):
                raise KdaugError(f"--space: {role}.{method}: each knob needs a non-empty list of values")
            if role == "teacher" and not keeps_gold_label(method):
                kept = sorted(m for m in REGISTRY if keeps_gold_label(m))
                raise KdaugError(
                    f"--space: the teacher role fine-tunes on gold labels, which {method}'s copies do not keep; "
                    f"use {kept}"
                )
            for values in _corners(knobs):  # every knob value must make a valid spec
                parse_augment_spec(spec_of(method, values))
    return {role: space[role] for role in roles}


def _corners(knobs: dict) -> list[dict]:
    return [{k: v[i % len(v)] for k, v in knobs.items()} for i in range(max(len(v) for v in knobs.values()))]


def spec_of(method: str, values: dict) -> str:
    return f"{method}:" + ",".join(f"{k}={v}" for k, v in values.items()) if values else method


def draw_population(space: dict, trials: int, seed: int, role: str) -> list[list[str]]:
    """`trials` distinct policies: no augmentation first, then draws from the space (seeded by role)."""
    rng = random.Random(f"kdaug-search/{seed}/{role}")
    methods = sorted(space["augmenters"])
    population: list[list[str]] = [[]]
    for _ in range(100 * trials):
        if len(population) >= trials:
            break
        count = rng.randint(1, min(space.get("max_augmenters", 1), len(methods)))
        policy = [
            spec_of(m, {k: rng.choice(v) for k, v in sorted(space["augmenters"][m].items())})
            for m in sorted(rng.sample(methods, count))
        ]
        if policy not in population:
            population.append(policy)
    return population


def rungs(trials: int, eta: int, min_epochs: int, max_epochs: int) -> list[tuple[int, int]]:
    """Successive halving: [(trials kept, epochs)] from all trials at min_epochs to the last rung."""
    out, n, epochs = [], trials, min_epochs
    while True:
        out.append((n, min(epochs, max_epochs)))
        if n <= 1 or epochs >= max_epochs:
            return out
        n, epochs = max(1, n // eta), epochs * eta


def policy_key(role: str, policy: list[str]) -> str:
    from kdaug.core.augment import method_of

    readable = "-".join(method_of(s) for s in policy) or "none"
    return f"{role}-{readable}-{hashlib.sha256(json.dumps(policy).encode()).hexdigest()[:10]}"


def shown(policy: list[str]) -> str:
    return " + ".join(policy) or NONE
