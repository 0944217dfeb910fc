"""The captured computation as a picture: module calls as nodes, tensors as edges, laid out by Graphviz.

The nodes are the module calls that a table row stands for, at a chosen fold depth (as
``summary --depth``): a module at that depth stands for its whole subtree; a leaf module shallower
than it is itself; an op that ran directly in a container's ``forward`` (ResNet's residual
``add``, Inception's and DenseNet's ``cat``) is a node of its own when it merges several
tensors, and part of the node that produced its input otherwise (an in-place ``relu_``, a
``view``). So branches and merges are drawn as they ran, with each tensor's shape on its edge.
Containers are drawn as clusters (boxes around their children).

Layout is Graphviz's ``dot`` (Gansner et al., "A Technique for Drawing Directed Graphs", 1993),
run as a program at generation time; the SVG it writes is embedded in the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from netanatomy.capture.graph import GRAPH_INPUT, Graph, ModuleCall
from netanatomy.errors import UserError

#: Node colour classes by module type or op (styled by the page's CSS, light and dark).
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv", ("Conv", "conv")),
    ("pool", ("Pool", "pool")),
    ("norm", ("Norm", "norm")),
    ("act", ("ReLU", "relu", "Tanh", "Sigmoid", "GELU", "Softmax", "Dropout")),
    ("fc", ("Linear", "linear", "addmm", "LSTM", "GRU", "RNN", "Embedding")),
    ("merge", ("add", "cat", "mul")),
)

INSTALL_HINT = ("Graphviz's `dot` is not installed; install it (Debian/Ubuntu: sudo apt-get install graphviz; "
                "macOS: brew install graphviz) and run the command again")


def _kind(label: str) -> str:
    for kind, needles in _KINDS:
        if any(n in label for n in needles):
            return kind
    return "other"


@dataclass
class GraphView:
    """One fold depth of the graph: nodes (key -> row name, label, kind) and labelled edges."""

    #: Edge counts above which dot's iterations are capped (see :func:`dot_svg`).
    BIG_EDGES = 300
    DENSE_RATIO = 3

    depth: int | None
    nodes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    edges: dict[tuple[str, str], str] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)  # container path -> node keys

    @property
    def big(self) -> bool:
        return len(self.edges) > self.BIG_EDGES

    @property
    def dense(self) -> bool:
        return self.big and len(self.edges) > self.DENSE_RATIO * len(self.nodes)

    def svg(self) -> str:
        """The view laid out by dot."""
        return dot_svg(self.dot_source(), big=self.big, dense=self.dense)

    def dot_source(self) -> str:
        """The graph in the DOT language, top to bottom, containers as nested clusters."""
        lines = ['digraph G {', 'rankdir=TB; bgcolor="transparent"; nodesep=0.15; ranksep=0.25;',
                 'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, height=0.3, margin="0.08,0.03"];',
                 'edge [fontname="Helvetica", fontsize=8, arrowsize=0.5];']
        tree: dict[str, list[str]] = {}
        for path in self.clusters:
            parent = next((p for p in _ancestor_paths(path) if p in self.clusters), "")
            tree.setdefault(parent, []).append(path)

        def emit(path: str, indent: str) -> None:
            for child in tree.get(path, []):
                cid = _safe(child)
                lines.append(f'{indent}subgraph "cluster_{cid}" {{ label="{_esc(child)}"; id="k{cid}"; class="cluster"; fontsize=9; fontname="Helvetica";')
                emit(child, indent + "  ")
                lines.extend(f'{indent}  "{k}";' for k in self.clusters[child])
                lines.append(f"{indent}}}")

        emit("", "")
        for key, (row, label, kind) in self.nodes.items():
            lines.append(f'"{key}" [id="{key}", label="{_esc(label)}", class="{kind}", tooltip="{_esc(row or label)}"];')
        labelled: set[str] = set()
        for (a, b), shape in self.edges.items():
            # One visible label per tensor (its first consumer); every edge says its shape on hover.
            # Labels are what costs dot time: DenseNet's dense connections repeat each tensor many times.
            label = f'label=" {shape}", ' if a not in labelled else ""
            labelled.add(a)
            lines.append(f'"{a}" -> "{b}" [{label}tooltip="{shape}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def _ancestor_paths(path: str) -> list[str]:
    out = []
    while "." in path:
        path = path.rpartition(".")[0]
        out.append(path)
    return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def build_view(graph: Graph, leaf_paths: set[str], depth: int | None = None) -> GraphView:
    """The graph folded at ``depth`` (None: every leaf module), as :class:`GraphView`.

    Args:
        graph: the capture of one forward pass.
        leaf_paths: module paths that have no child modules.
        depth: fold depth, as ``summary --depth``.
    """
    calls = graph.calls
    owner = [-1] * len(graph.nodes)  # node index -> innermost call
    parent = [-1] * len(calls)
    stack: list[int] = []
    for ci, c in enumerate(calls):
        # Calls are in pre-order; the parent is the innermost open call whose ops contain this one's.
        while stack and not (calls[stack[-1]].first_node <= c.first_node and c.end_node <= calls[stack[-1]].end_node):
            stack.pop()
        parent[ci] = stack[-1] if stack else -1
        stack.append(ci)
        for i in range(c.first_node, c.end_node):
            owner[i] = ci

    def fold(ci: int) -> int:
        while depth is not None and calls[ci].depth > depth:
            ci = parent[ci]
        return ci

    view = GraphView(depth)
    group: list[str] = [""] * len(graph.nodes)
    for node in graph.nodes:
        ci = owner[node.index]
        if ci >= 0:
            ci = fold(ci)
        call: ModuleCall | None = calls[ci] if ci >= 0 else None
        inputs = [r for r in node.tensor_inputs() if r.producer >= 0 or r.producer == GRAPH_INPUT]
        if call is not None and call.depth > 0 and (call.path in leaf_paths or (depth is not None and call.depth == depth)):
            key = f"c{ci}"
            if key not in view.nodes:
                name = call.path.rpartition(".")[2]
                view.nodes[key] = (call.path, f"{name}\n{call.type}" if name != call.type else name, _kind(call.type))
                _into_cluster(view, call.path, key, depth)
        elif len({(r.producer, r.output) for r in inputs}) == 1 and inputs[0].producer >= 0:
            group[node.index] = group[inputs[0].producer]
            continue
        else:
            key = f"o{node.index}"
            where = call.path if call is not None else ""
            view.nodes[key] = (where, node.op, _kind(node.op))
            _into_cluster(view, where + ".x" if where else "", key, depth)
        group[node.index] = key
        for r in inputs:
            src = group[r.producer] if r.producer >= 0 else "input"
            if src != key:
                view.edges.setdefault((src, key), "×".join(map(str, r.shape[1:])) or "scalar")
    view.nodes = {"input": ("", "input\n" + "×".join(map(str, graph.inputs[0].shape)) if graph.inputs else "input", "io"), **view.nodes}
    for k, ref in enumerate(graph.outputs):
        if ref.producer >= 0:
            view.nodes[f"output{k}"] = ("", "output", "io")
            view.edges.setdefault((group[ref.producer], f"output{k}"), "×".join(map(str, ref.shape[1:])) or "scalar")
    return view


def _into_cluster(view: GraphView, path: str, key: str, depth: int | None) -> None:
    """Put node ``key`` (of module ``path``) in the cluster of its parent container."""
    parent = path.rpartition(".")[0] if "." in path else ""
    if parent:
        view.clusters.setdefault(parent, []).append(key)
        # Every container above it gets a (possibly empty) cluster, so the nesting is complete.
        for anc in _ancestor_paths(parent):
            view.clusters.setdefault(anc, [])


def dot_svg(source: str, big: bool = False, dense: bool = False, timeout: float = 120.0) -> str:
    """Lay out DOT ``source`` with Graphviz's ``dot`` and return the SVG element (no XML prologue).

    ``big``: cap dot's network-simplex and crossing-minimisation iterations (``nslimit``,
    ``mclimit``): DenseNet's dense connections otherwise take seconds for a layout that is
    hardly better. ``dense`` (many more edges than nodes): straight edges, because routing
    splines around hundreds of long edges is most of the time and the picture is a mesh anyway.

    Raises:
        UserError: ``dot`` is not installed.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise UserError(INSTALL_HINT)
    limits = ["-Gnslimit=0.2", "-Gnslimit1=0.2", "-Gmclimit=0.1"] if big or dense else []
    if dense:
        limits.append("-Gsplines=line")
    done = subprocess.run([exe, "-Tsvg", *limits], input=source.encode(), capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    svg = done.stdout.decode()
    start = svg.find("<svg")
    # Drop the comments dot writes (its version, the graph's name): the page is the same on any machine.
    return re.sub(r"<!--.*?-->\n?", "", svg[start:], flags=re.S)
