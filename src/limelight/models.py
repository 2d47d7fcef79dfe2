"""``limelight.models``: the registry's everyday functions under the name users look for."""

from limelight.registry import get, load, register_model, set_alias

__all__ = ["get", "load", "register_model", "set_alias"]
