"""The public API is what each package lists in ``__all__``, and nothing heavy is imported."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import limelight

PACKAGES = sorted(
    name
    for _, name, is_pkg in pkgutil.walk_packages(limelight.__path__, "limelight.")
    if is_pkg and ".migrations" not in name
)


@pytest.mark.parametrize("name", ["limelight", *PACKAGES])
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, type(sys))  # submodules are reached by their own path
        and getattr(v, "__module__", name).startswith("limelight")
        and n not in ("annotations", "TYPE_CHECKING")
    }
    unlisted = sorted(public - set(exported))
    assert not unlisted, f"{name} has public names missing from __all__: {unlisted}"


def test_import_limelight_stays_light() -> None:
    code = (
        "import sys, limelight, limelight.store, limelight.core, limelight.cli._flows;"
        "heavy = {'ray', 'torch', 'boto3', 's3fs', 'starlette', 'uvicorn', 'dask', 'pandas',"
        " 'alembic', 'psycopg', 'numpy', 'scipy', 'pyarrow', 'matplotlib'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_defining_a_flow_imports_no_database_or_filesystem_layer() -> None:
    code = (
        "import sys\n"
        "from limelight import Flow, Param, step, current\n"
        "print(sorted({'sqlalchemy', 'fsspec', 'limelight.registry', 'limelight.tracking'}"
        " & set(sys.modules)))\n"
        "import limelight\n"
        "print(limelight.Run.__module__, limelight.models.__name__, limelight.search_runs.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "[]",
        "limelight.flows.client limelight.models search_runs",
    ]


def test_an_unknown_top_level_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Flw'"):
        limelight.Flw  # noqa: B018
