"""docs/import_graph.py: the package graph it reads and the cycles it reports."""

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "import_graph.py"
spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
assert spec and spec.loader
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)


def test_cycles_are_the_groups_that_reach_each_other() -> None:
    edges = {"a": {"b": set()}, "b": {"c": set()}, "c": {"a": set(), "d": set()}, "d": {}, "e": {"d": set()}}
    assert import_graph.cycles(edges) == [["a", "b", "c"]]
    assert import_graph.cycles({"a": {"b": set()}, "b": {}}) == []


def test_nodes_are_packages() -> None:
    assert import_graph.node_of("backend.warnings.issue") == "backend.warnings"
    assert import_graph.node_of("ingest.alarms") == "ingest"
    assert import_graph.node_of("sqlalchemy.orm") is None


def test_the_repository_graph_has_the_alarm_and_warning_directions() -> None:
    edges = import_graph.graph()
    assert "backend.alarms" in edges["ingest"]  # ingest calls the lifecycle
    # which records a rain gauge's changes as facts: the warnings react to them, unknown to it
    assert "backend.warnings" not in edges["backend.alarms"]
    assert edges["ingest"]["backend.warnings"] == {"ingest.batch"}  # only the 叫应 answers over MQTT
    assert "backend.alarms" not in edges["backend.warnings"]
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "backend.alarms       -> " in out.stdout and "no cycle" in out.stdout


def test_the_packages_depend_on_each_other_without_a_cycle() -> None:
    """Shared infrastructure sits below its users: backend.core.mqtt (not ingest) for the broker,
    backend.core.clock for the time zone, backend.child (not backend.embedded) for `up`'s children."""
    edges = import_graph.graph()
    assert import_graph.cycles(edges) == []
    assert "ingest" not in edges["backend.warnings"] and "backend.cli" not in edges["backend.embedded"]
