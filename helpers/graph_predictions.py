"""What the graph alone predicts from a few labels, and what its edges can teach a model (notebook 05, section 7).

Beside :mod:`helpers.semisupervised`, which trains the CNN with the graph, these
ask what the graph itself knows, from the same labelled images:

* :func:`neighbour_vote` - each node's class by a vote of its labelled
  neighbours, weighted by edge weight.
* :func:`label_propagation` - each node's class by label propagation (Zhou et
  al. 2004): labels flow along paths of several edges.
* :func:`edge_information` - whether the neighbours packed with the labelled
  images tell a model anything it does not already predict.

Labels are one class per node, :data:`helpers.graphs.UNLABELLED` (-1) for a node
whose class may not be used.
"""

from __future__ import annotations

import numpy as np

from helpers import checks
from helpers.data import CLASS_NAMES
from helpers.graphs import UNLABELLED, GraphError, SimilarityGraph, check_node_labels, check_nodes, require_edges

__all__ = ["neighbour_vote", "label_propagation", "edge_information"]


def _check_all_classes_labelled(labels: np.ndarray, classes: int, class_names=CLASS_NAMES) -> None:
    present = np.unique(labels[labels >= 0])
    missing = [c for c in range(classes) if c not in present]
    if missing:
        named = ", ".join(f"{c} ({class_names[c]})" if c < len(class_names) else str(c) for c in missing)
        raise ValueError(
            f"no labelled node of class {named}: the graph could never predict it. Give at least one labelled "
            "image of every class (a class-balanced label budget does)."
        )


def neighbour_vote(graph: SimilarityGraph, labels, classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Each node's class by a vote of its labelled neighbours, weighted by edge weight; -1 where it has none.

    ``labels`` holds one class per node, -1 for the unlabelled ones.
    """
    require_edges(graph)
    labels = check_node_labels(labels, graph.num_nodes, classes)
    _check_all_classes_labelled(labels, classes)
    votes = np.zeros((graph.num_nodes, classes))
    labelled = labels[graph.targets] >= 0
    np.add.at(votes, (graph.sources[labelled], labels[graph.targets[labelled]]), graph.weights[labelled])
    return np.where(votes.any(axis=1), votes.argmax(axis=1), UNLABELLED)


def label_propagation(graph: SimilarityGraph, labels, classes: int = len(CLASS_NAMES), alpha: float = 0.99,
                      iterations: int = 50) -> np.ndarray:
    """Each node's class by label propagation (Zhou et al., "Learning with local and global consistency", 2004).

    Every labelled node starts with its class; at each iteration every node takes
    ``alpha`` times the (symmetrically normalised) weighted average of its
    neighbours' scores plus ``1 - alpha`` times its own starting label, so labels
    flow along paths of several edges. Returns the class with the highest score,
    -1 for nodes no labelled node reaches. ``labels``: one class per node, -1 for unlabelled.
    """
    require_edges(graph)
    labels = check_node_labels(labels, graph.num_nodes, classes)
    _check_all_classes_labelled(labels, classes)
    alpha = checks.check_number(alpha, "alpha", minimum=0.0, maximum=1.0)
    iterations = checks.check_whole_number(iterations, "iterations", minimum=1)
    degree = np.bincount(graph.sources, weights=graph.weights, minlength=graph.num_nodes)
    safe = np.where(degree > 0, degree, 1.0)
    normalised = graph.weights / np.sqrt(safe[graph.sources] * safe[graph.targets])
    start = np.zeros((graph.num_nodes, classes))
    start[labels >= 0, labels[labels >= 0]] = 1.0
    scores = start.copy()
    for _ in range(iterations):
        spread = np.zeros_like(scores)
        for c in range(classes):  # one bincount per class: a sparse matrix product without SciPy
            spread[:, c] = np.bincount(graph.sources, weights=normalised * scores[graph.targets, c], minlength=graph.num_nodes)
        scores = alpha * spread + (1.0 - alpha) * start
    return np.where(scores.max(axis=1) > 0, scores.argmax(axis=1), UNLABELLED)


def edge_information(graph: SimilarityGraph, centres, centre_labels, neighbour_classes, model_predictions,
                     max_neighbors: int, classes: int = len(CLASS_NAMES)) -> dict:
    """What the packed edges tell a model, next to what it already predicts.

    For every edge from a labelled centre to one of its ``max_neighbors``
    heaviest neighbours, graph regularization asks the model to give the
    neighbour the centre's class. Compared with the neighbour's true class
    (``neighbour_classes``: one per node, a diagnostic the training never sees)
    and the model's own prediction of it (``model_predictions``: one per node):

    * ``homophily``: the graph is right (the neighbour is of the centre's class);
    * ``model agrees``: the model already predicts the centre's class for it;
    * ``useful``: graph right, model wrong: the edge can teach the model;
    * ``harmful``: graph wrong, model right: the edge pulls the model to a wrong class.

    Returns the shares of all such edges and their count.
    """
    require_edges(graph)
    centres = check_nodes(centres, graph.num_nodes)
    centre_labels = np.asarray(centre_labels)
    if centre_labels.shape != centres.shape:
        raise GraphError(f"centre_labels has shape {centre_labels.shape}; give one class per centre ({len(centres)}).")
    truth = check_node_labels(neighbour_classes, graph.num_nodes, classes, "neighbour_classes", allow_unlabelled=False)
    predicted = check_node_labels(model_predictions, graph.num_nodes, classes, "model_predictions", allow_unlabelled=False)
    positions, _ = graph.top_neighbors(centres, max_neighbors)
    present = positions >= 0
    wanted = np.broadcast_to(centre_labels[:, None], positions.shape)[present]
    neighbours = positions[present]
    graph_right = truth[neighbours] == wanted
    model_right_for_graph = predicted[neighbours] == wanted
    model_right = predicted[neighbours] == truth[neighbours]
    return {
        "edges": int(present.sum()),
        "homophily": float(graph_right.mean()) if present.any() else float("nan"),
        "model agrees": float(model_right_for_graph.mean()) if present.any() else float("nan"),
        "useful": float(np.mean(graph_right & ~model_right_for_graph)) if present.any() else float("nan"),
        "harmful": float(np.mean(~graph_right & model_right)) if present.any() else float("nan"),
    }
