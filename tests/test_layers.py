"""The platform never imports the simulator, and the simulated peers live in ``sim/peers``.

Read from the source with ``ast`` (imports inside functions count too), without importing the
modules: what a module *could* import at run time is what matters, not what a test happened to
load.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import chargemesh

#: The platform's packages: none of them may import ``chargemesh.sim``.
PLATFORM = ("protocols", "services", "api", "store", "search")
SIM = "chargemesh.sim"


def modules(package: str) -> Iterator[tuple[str, Path]]:
    """Every module of ``chargemesh.<package>`` (the package itself too) and its source file."""
    spec = importlib.util.find_spec(f"chargemesh.{package}")
    assert spec is not None
    assert spec.origin is not None
    yield spec.name, Path(spec.origin)
    if spec.submodule_search_locations is None:
        return
    for info in pkgutil.walk_packages(spec.submodule_search_locations, f"{spec.name}."):
        found = importlib.util.find_spec(info.name)
        assert found is not None
        assert found.origin is not None
        yield info.name, Path(found.origin)


def imported(module: str, source: Path) -> set[str]:
    """The modules ``module`` imports anywhere in its source, relative imports resolved."""
    is_package = source.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def simulator_imports(package: str) -> dict[str, list[str]]:
    """Module → the ``chargemesh.sim`` modules it imports, for every module of ``package``."""
    found: dict[str, list[str]] = {}
    for module, source in modules(package):
        hits = sorted(n for n in imported(module, source) if n == SIM or n.startswith(f"{SIM}."))
        if hits:
            found[module] = hits
    return found


@pytest.mark.parametrize("package", PLATFORM)
def test_the_platform_never_imports_the_simulator(package: str) -> None:
    assert simulator_imports(package) == {}


def test_the_check_sees_an_import_inside_a_function() -> None:
    # the CLI starts `chargemesh sim` by importing the simulator inside the command
    found = simulator_imports("cli")
    assert any("chargemesh.sim.runner" in hits for hits in found.values())


def test_protocols_hold_no_simulated_peer() -> None:
    """The CPO and the T/CEC operator side are under ``sim/peers``, not in ``protocols/``."""
    assert chargemesh.__file__ is not None
    protocols = Path(chargemesh.__file__).parent / "protocols"
    names = {path.stem for path in protocols.rglob("*.py")}
    assert not names & {"cpo", "cpo_sessions", "operator_side", "operator_network", "operator_push"}
    for module in ("ocpi.server", "ocpi.sessions", "tcec.server", "tcec.network", "tcec.push"):
        assert importlib.util.find_spec(f"chargemesh.sim.peers.{module}") is not None


def cycle(package: str) -> list[str] | None:
    """An import cycle among the modules of ``package`` (as a path), ``None`` when there is none."""
    graph = {
        name: {n for n in imported(name, source) if n != name}
        for name, source in modules(package)
        if source.name != "__init__.py"
    }
    for name in graph:
        graph[name] &= graph.keys()
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                return [*path, name, nxt]
            if nxt not in state and (found := visit(nxt, [*path, name])):
                return found
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name, [])):
            return found
    return None


@pytest.mark.parametrize("package", ["sim.peers.ocpi", "sim.peers.tcec"])
def test_the_simulated_peers_import_one_way(package: str) -> None:
    """The CPO's charging sees the server through a port: server → sessions → port, data."""
    assert cycle(package) is None
    server, sessions = f"chargemesh.{package}.server", f"chargemesh.{package}.sessions"
    found = dict(modules(package))
    if sessions in found:
        assert server not in imported(sessions, found[sessions])
