"""The end-to-end demo: develop, deploy and improve on a simulated streaming service.

Like ``cli``, this package combines every domain and nothing imports it.
"""

from limelight.demo._catalog import TitleArtworkPolicy
from limelight.demo._flows import DemoArtwork, DemoRecommenders
from limelight.demo._main import run_demo
from limelight.demo._report import DemoReport

__all__ = ["DemoArtwork", "DemoRecommenders", "DemoReport", "TitleArtworkPolicy", "run_demo"]
