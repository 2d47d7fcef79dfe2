"""The models a worker serves, reloaded in the background when an alias moves.

A :class:`Snapshot` is immutable: the models behind each served slot, the models named by the
variants of running experiments, and those experiments. A request reads ``ModelSet.snapshot``
once and uses that object to the end, so a swap (one reference assignment, done by the poller
thread after the new version is fully loaded) never touches a request in flight.

A version with a ``recommend`` method is probed before it is served
(:func:`limelight.serving._contract.probe`). A version the probe refuses is not served: on an
alias move the loaded version goes on serving; at start-up its slot stays empty and the worker
is not ready. Either way the snapshot's ``refused`` says which version and why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from limelight.core.errors import InvalidInputError, LimelightError
from limelight.core.names import model_ref_name
from limelight.experiments.spec import ExperimentSpec
from limelight.experiments.store import running_experiments
from limelight.registry import ModelVersion, Registry, parse_model_ref
from limelight.serving._contract import DEFAULT_PROBE_SECONDS, ContractError, probe
from limelight.store import Store

__all__ = [
    "Loaded",
    "ModelRefusedError",
    "ModelSet",
    "Refusal",
    "Snapshot",
    "is_model_ref",
    "parse_model_specs",
]

log = logging.getLogger("limelight.serving")


def is_model_ref(value: object) -> bool:
    """True for ``name@alias`` and ``name/3`` (a bare word is data, not a model reference)."""
    return model_ref_name(value) is not None


def parse_model_specs(specs: Mapping[str, str] | list[str]) -> dict[str, str]:
    """``{"recs": "recs@champion"}`` from a mapping or from ``["recs=recs@champion", ...]``."""
    items: list[tuple[str, str]] = []
    if isinstance(specs, Mapping):
        items = [(str(k), str(v)) for k, v in specs.items()]
    else:
        for spec in specs:
            slot, eq, ref = str(spec).partition("=")
            if not eq:
                slot, ref = parse_model_ref(spec)[0], spec
            items.append((slot.strip(), ref.strip()))
    if not items:
        raise InvalidInputError(
            "serve at least one model, e.g. --model recs=recs@champion (NAME=MODEL_REFERENCE)"
        )
    out: dict[str, str] = {}
    for slot, ref in items:
        parse_model_ref(slot)  # a slot is named like a model: it appears in URLs
        parse_model_ref(ref)
        if slot in out:
            raise InvalidInputError(f"model slot {slot!r} is given twice; give each slot once")
        out[slot] = ref
    return out


@dataclass(frozen=True)
class Loaded:
    """One loaded model version."""

    ref: str
    version: ModelVersion
    obj: Any
    n_items: int | None = None  # the most titles it can rank (None: no bound known)

    @property
    def label(self) -> str:
        return f"{self.version.model}/{self.version.version}"


@dataclass(frozen=True)
class Refusal:
    """A model version the recommend-contract probe refused, and why."""

    ref: str
    model: str
    version: int
    reason: str

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}"

    def describe(self) -> str:
        return f"{self.label} ({self.ref}) was refused: {self.reason}"


class ModelRefusedError(LimelightError):
    """A model version broke the recommend contract when it was loaded."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.describe())
        self.refusal = refusal


@dataclass(frozen=True)
class Snapshot:
    """What a request sees: every model it may use and the experiments that may pick them."""

    slots: dict[str, Loaded]
    by_ref: dict[str, Loaded] = field(default_factory=dict)
    experiments: tuple[ExperimentSpec, ...] = ()
    recommender: str | None = None
    artwork: str | None = None
    refused: dict[str, Refusal] = field(default_factory=dict)  # by slot: the version not served

    @property
    def missing(self) -> list[Refusal]:
        """Refused versions of slots that have nothing to serve (a worker is not ready)."""
        return [r for slot, r in self.refused.items() if slot not in self.slots]

    def choose(self, assignments: Mapping[str, str]) -> tuple[dict[str, Loaded], dict[str, str]]:
        """The model of each slot for a user in ``assignments`` ({experiment: variant}), and
        which experiment decided each slot that an experiment decided (the last one wins)."""
        if not assignments:
            return self.slots, {}
        chosen, deciders = dict(self.slots), {}
        for spec in self.experiments:
            if spec.name in assignments:
                override = self.variant_model(spec, assignments[spec.name])
                if override is not None:
                    chosen[override[0]] = override[1]
                    deciders[override[0]] = spec.name
        return chosen, deciders

    def variant_model(self, spec: ExperimentSpec, variant: str) -> tuple[str, Loaded] | None:
        """The (slot, model) a variant serves instead of the slot's own, if it names a model."""
        for v in spec.variants:
            if v.name == variant and is_model_ref(v.value) and v.value in self.by_ref:
                loaded = self.by_ref[v.value]
                for slot, current in self.slots.items():
                    if current.version.model == loaded.version.model:
                        return slot, loaded
                return (self.recommender, loaded) if self.recommender else None
        return None


def _roles(slots: Mapping[str, Loaded]) -> tuple[str | None, str | None]:
    def has(slot: str, method: str) -> bool:
        return callable(getattr(slots[slot].obj, method, None))

    recs = [s for s in slots if has(s, "recommend")]
    arts = [s for s in slots if has(s, "choose") and not has(s, "recommend")]
    recommender = "recs" if "recs" in recs else (recs[0] if recs else None)
    artwork = "artwork" if "artwork" in arts else (arts[0] if arts else None)
    return recommender, artwork


class ModelSet:
    """The served slots (``{"recs": "recs@champion"}``), kept current by a poller thread."""

    def __init__(
        self,
        models: Mapping[str, str] | list[str],
        store: Store,
        *,
        poll_seconds: float = 1.0,
        probe_seconds: float = DEFAULT_PROBE_SECONDS,
        probe_limit: int = 20_000,
    ) -> None:
        if not probe_seconds > 0 or probe_limit < 1:
            raise InvalidInputError(
                f"probe_seconds must be positive and probe_limit at least 1, "
                f"got {probe_seconds!r} and {probe_limit!r}"
            )
        self.specs = parse_model_specs(models)
        self.store = store
        self.registry = Registry(store=store)
        self.poll_seconds = poll_seconds
        self.probe_seconds = probe_seconds
        self.probe_limit = probe_limit  # the most titles a request can ask a model for
        self.swaps = 0
        self.poll_errors = 0
        self.refusals: dict[tuple[str, int], Refusal] = {}  # every version refused, probed once
        self._left_out: dict[str, str] = {}  # experiments not run, and why
        self.snapshot: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        """Every slot has a version to serve."""
        return self.snapshot is not None and not self.snapshot.missing

    def _get(self, ref: str, loaded: Mapping[str, Loaded]) -> Loaded:
        version = self.registry.get(ref)
        for old in loaded.values():  # same version under another ref: share the object
            if (old.version.model, old.version.version) == (version.model, version.version):
                return old if old.ref == ref else Loaded(ref, version, old.obj, old.n_items)
        refusal = self.refusals.get((version.model, version.version))
        if refusal is not None:
            raise ModelRefusedError(Refusal(ref, refusal.model, refusal.version, refusal.reason))
        log.info("loading %s (%s/%d)", ref, version.model, version.version)
        obj = self.store.artifacts.load(version.artifact)
        if not callable(getattr(obj, "recommend", None)):
            return Loaded(ref, version, obj)
        try:
            n_items = probe(obj, seconds=self.probe_seconds, limit=self.probe_limit)
        except ContractError as exc:
            refusal = Refusal(ref, version.model, version.version, str(exc))
            self.refusals[(version.model, version.version)] = refusal
            log.error("not serving %s", refusal.describe())
            raise ModelRefusedError(refusal) from None
        return Loaded(ref, version, obj, n_items)

    def refresh(self) -> bool:
        """Resolve every reference again; load what moved; swap. True when something changed."""
        old = self.snapshot
        known = dict(old.by_ref) if old is not None else {}
        slots, refused = {}, {}
        for slot, ref in self.specs.items():
            try:
                slots[slot] = self._get(ref, known)
            except ModelRefusedError as exc:
                refused[slot] = exc.refusal
                if old is not None and slot in old.slots:
                    slots[slot] = old.slots[slot]  # the version it replaced goes on serving
            except LimelightError as exc:
                if old is None:
                    raise
                self.poll_errors += 1
                log.warning("cannot refresh %s, still serving the loaded version: %s", ref, exc)
                if slot in old.slots:
                    slots[slot] = old.slots[slot]
                elif slot in old.refused:
                    refused[slot] = old.refused[slot]
        by_ref = {item.ref: item for item in slots.values()}
        experiments, left_out = [], {}
        for spec in running_experiments(self.store.metadata):
            refs = {v.value for v in spec.variants if is_model_ref(v.value)}
            try:
                for ref in refs - by_ref.keys():
                    by_ref[ref] = self._get(ref, {**known, **by_ref})
            except LimelightError as exc:
                if self._left_out.get(spec.name) != str(exc):  # once, not on every poll
                    log.warning("experiment %s left out: %s", spec.name, exc)
                left_out[spec.name] = str(exc)
                continue
            experiments.append(spec)
        self._left_out = left_out
        recommender, artwork = _roles(slots)
        new = Snapshot(slots, by_ref, tuple(experiments), recommender, artwork, refused)
        swapped = old is not None and _key(new) != _key(old)
        changed = old is None or swapped or new.refused != old.refused
        if changed:
            if swapped:
                self.swaps += 1
                log.info("now serving %s", ", ".join(sorted(i.label for i in slots.values())))
            self.snapshot = new
        return changed

    def start(self) -> None:
        """Load every model now, then keep polling the registry in a background thread."""
        if self.snapshot is None:
            self.refresh()
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="limelight-model-poller", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception as exc:  # the registry may be briefly unreachable: keep serving
                self.poll_errors += 1
                log.warning("model refresh failed, still serving the loaded versions: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def versions(self) -> list[tuple[str, str, int]]:
        snap = self.snapshot
        if snap is None:
            return []
        return [(s, m.version.model, m.version.version) for s, m in snap.slots.items()]


def _key(snap: Snapshot) -> tuple[Any, ...]:
    return (
        tuple(sorted((s, m.label) for s, m in snap.slots.items())),
        tuple(sorted((r, m.label) for r, m in snap.by_ref.items())),
        tuple(snap.experiments),
    )
