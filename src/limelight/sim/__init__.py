"""A streaming service with known ground truth, for the demo and for statistical tests.

    from limelight import sim

    world = sim.World.from_scale("small", seed=7)     # 5,000 members, 500 titles, 4 artworks each
    past = sim.history(world)                        # plays before world.config.start
    train = past.to_csr()                            # members x titles, play counts
    members = world.members(range(100)).ids
    rows = world.popular_slates(members, k=10)       # or sim.ranker_slates(my_ranker, world, ...)
    world.ranker_value(members, rows)                # exact expected plays per session
    online = sim.Online(world)
    feedback = online.respond(members, rows)         # sampled plays with durations

Member and title ids are ints from 0 (rows and columns of the history matrix); an artwork is an
index within its title, and its arm id for bandits is the genre it shows
(:meth:`World.artwork_candidates`). Contexts are ``(n, world.context_dim)`` float arrays.
Same config and seed: same world and same events, in any process.
"""

from limelight.sim._config import GENRES, SCALES, WorldConfig
from limelight.sim._events import (
    ExplorationLog,
    Feedback,
    History,
    Online,
    Sessions,
    exploration_log,
    history,
    iter_history,
    sessions,
)
from limelight.sim._policies import (
    ArtworkPolicy,
    Ranker,
    artwork_probabilities,
    choose_artworks,
    ranker_slates,
    uniform_artwork_probabilities,
)
from limelight.sim._world import Artworks, Lift, Members, World

__all__ = [
    "GENRES",
    "SCALES",
    "ArtworkPolicy",
    "Artworks",
    "ExplorationLog",
    "Feedback",
    "History",
    "Lift",
    "Members",
    "Online",
    "Ranker",
    "Sessions",
    "World",
    "WorldConfig",
    "artwork_probabilities",
    "choose_artworks",
    "exploration_log",
    "history",
    "iter_history",
    "ranker_slates",
    "sessions",
    "uniform_artwork_probabilities",
]
