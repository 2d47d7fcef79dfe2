"""The knobs of a simulated world, with small defaults that run in seconds."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from limelight.core.errors import InvalidInputError

__all__ = ["GENRES", "SCALES", "WorldConfig"]

GENRES: tuple[str, ...] = (
    "drama",
    "comedy",
    "action",
    "thriller",
    "romance",
    "documentary",
    "animation",
    "horror",
    "sci-fi",
    "crime",
    "family",
    "fantasy",
)

# name -> (members, titles)
SCALES: dict[str, tuple[int, int]] = {
    "tiny": (1_000, 100),
    "small": (5_000, 500),
    "medium": (100_000, 2_000),
    "large": (1_000_000, 10_000),
}

# A float scale s gives 5,000*s members and 500*s**_TITLE_EXPONENT titles: s=200 is ~1M x 10k.
_TITLE_EXPONENT = math.log(20) / math.log(200)

_DAY = 86_400


@dataclass(frozen=True, kw_only=True)
class WorldConfig:
    """Everything that defines a world; the same config (and seed) always gives the same world.

    Times are Unix seconds. History happens in the ``history_days`` before ``start``; online
    sessions happen from ``start`` on, when every title has been released.
    """

    n_members: int = 5_000
    n_titles: int = 500
    n_artworks: int = 4
    n_genres: int = 12
    n_latent: int = 8
    row_size: int = 10
    seed: int = 0
    start: int = 1_767_225_600  # 2026-01-01T00:00:00Z
    history_days: float = 60.0
    # Ground truth: logit of a play = base + popularity + genre + latent + idiosyncratic + artwork.
    base_logit: float = -3.2
    popularity_weight: float = 0.5
    genre_weight: float = 0.8
    latent_weight: float = 1.0
    idiosyncratic_sd: float = 0.3
    artwork_weight: float = 0.8
    artwork_quality_sd: float = 0.15
    position_decay: float = 0.7  # examination of position p (0-based) is (1 + p) ** -decay
    # Completion of a play: Beta with mean sigmoid(bias + weight * personal affinity).
    completion_bias: float = 0.3
    completion_weight: float = 0.8
    completion_concentration: float = 4.0
    # Activity: sessions per day, log-normal with this mean and log-sd.
    mean_sessions_per_day: float = 0.5
    activity_sd: float = 0.8
    # Exposure in the history: titles shown with probability ~ popularity_share ** flatness.
    history_exposure_flatness: float = 0.7
    context_noise: float = 0.0

    def __post_init__(self) -> None:
        _check_int(self, "n_members", 1)
        _check_int(self, "n_titles", 2)
        _check_int(self, "n_genres", 2)
        _check_int(self, "n_artworks", 1)
        _check_int(self, "n_latent", 1)
        _check_int(self, "row_size", 1)
        _check_int(self, "seed", 0)
        _check_int(self, "start", 0)
        if self.n_artworks > self.n_genres:
            raise InvalidInputError(
                f"n_artworks={self.n_artworks} exceeds n_genres={self.n_genres}: each artwork of a "
                "title emphasises a different genre; lower n_artworks or raise n_genres"
            )
        if self.row_size > self.n_titles:
            raise InvalidInputError(
                f"row_size={self.row_size} exceeds n_titles={self.n_titles}; lower row_size"
            )
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidInputError(f"{field.name}={value} must be a finite number")
        for name in (
            "history_days",
            "popularity_weight",
            "genre_weight",
            "latent_weight",
            "idiosyncratic_sd",
            "artwork_weight",
            "artwork_quality_sd",
            "position_decay",
            "activity_sd",
            "history_exposure_flatness",
            "context_noise",
        ):
            if getattr(self, name) < 0:
                raise InvalidInputError(f"{name}={getattr(self, name)} must be >= 0")
        for name in ("mean_sessions_per_day", "completion_concentration"):
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"{name}={getattr(self, name)} must be > 0")

    @property
    def history_start(self) -> int:
        """First second of the history window."""
        return self.start - round(self.history_days * _DAY)

    @classmethod
    def from_scale(
        cls, scale: str | float = "small", seed: int = 0, **overrides: object
    ) -> WorldConfig:
        """A config by size: a name in :data:`SCALES` or a positive factor of ``"small"``."""
        if isinstance(scale, str):
            if scale not in SCALES:
                raise InvalidInputError(
                    f"unknown scale {scale!r}; use one of {sorted(SCALES)} or a positive number"
                )
            members, titles = SCALES[scale]
        elif isinstance(scale, int | float) and not isinstance(scale, bool):
            if not math.isfinite(scale) or scale <= 0:
                raise InvalidInputError(
                    f"scale={scale} must be a positive number (1.0 is 5,000 members x 500 titles)"
                )
            small_members, small_titles = SCALES["small"]
            members = max(1, round(small_members * scale))
            titles = max(20, round(small_titles * scale**_TITLE_EXPONENT))
        else:
            raise InvalidInputError(
                f"scale must be a name in {sorted(SCALES)} or a positive number, not {scale!r}"
            )
        params: dict[str, object] = {"n_members": members, "n_titles": titles, "seed": seed}
        params.update(overrides)
        try:
            return cls(**params)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InvalidInputError(f"bad WorldConfig override: {exc}") from None


def _check_int(config: WorldConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    object.__setattr__(config, name, value)  # numpy integers become plain ints
    if value < minimum:
        raise InvalidInputError(f"{name}={value} must be >= {minimum}")
