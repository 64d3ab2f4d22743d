"""The steps as a graph: who needs whom, in what order they run, and references filled in.

A step depends on every step its values reference (``${steps.search.model}``) and on the
steps it lists in ``needs``. The order is topological and, among steps free to run, the
order of the file, so the same file always runs in the same order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlharbor.pipelines import expr
from mlharbor.pipelines.spec import REF, PipelineError

if TYPE_CHECKING:
    from mlharbor.pipelines.spec import Pipeline

#: What each kind of step produces, for ``${steps.ID.OUTPUT}``. ``metrics`` holds a mapping
#: (``${steps.search.metrics.f1}``).
OUTPUTS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"dataset", "name", "version", "rows", "hash"}),
    "split": frozenset({"dataset", "rows"}),  # plus the names in `into`
    "insights": frozenset({"warnings", "kinds", "rows"}),
    "train": frozenset({"model", "name", "version", "metrics", "job"}),
    "automl": frozenset({"model", "name", "version", "metrics", "job", "best"}),
    "evaluate": frozenset({"metrics", "rows"}),
    "promote": frozenset({"promoted", "model", "alias", "champion", "reason"}),
    "score": frozenset({"dataset", "rows", "job"}),
    "drift": frozenset({"drifted", "n_drifted", "share", "columns", "status"}),
    "notify": frozenset({"status", "sent"}),
}
#: Fields that name a dataset (NAME or NAME@VERSION), and fields that name a model version.
DATASET_FIELDS = {"dataset", "reference", "current"}
MODEL_FIELDS = {"model"}
#: Kinds whose ``model`` names a registered version (a ``train`` step's names a model kind).
READS_MODEL = frozenset({"evaluate", "promote", "score"})
#: Fields that hold an expression of :mod:`mlharbor.pipelines.expr`.
EXPRESSION_FIELDS = {"if", "where"}


def references(value: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every ``${steps.ID.OUTPUT...}`` in a value: ``(text, id, rest)``."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    if isinstance(value, dict):
        for item in value.values():
            found += references(item)
    elif isinstance(value, list):
        for item in value:
            found += references(item)
    elif isinstance(value, str):
        for match in REF.finditer(value):
            parts = match.group(1).split(".")
            if parts[0] == "steps":
                found.append((match.group(0), parts[1] if len(parts) > 1 else "", tuple(parts[2:])))
            elif parts[0] != "params":
                raise PipelineError(
                    f"'{match.group(0)}': a reference starts with params. or steps."
                )
    return found


def outputs_of(step: Any) -> frozenset[str]:
    """The outputs a step makes (a split adds its parts' names)."""
    names = OUTPUTS[step.kind]
    if step.kind == "split":
        names = names | set(step.into)
    return names


def dependencies(pipeline: Pipeline) -> dict[str, list[str]]:
    """Step id → the ids of the steps it needs, in file order."""
    steps = {s.id: s for s in pipeline.spec.steps}
    graph: dict[str, list[str]] = {}
    for index, step in enumerate(pipeline.spec.steps):
        raw = pipeline.data["steps"][index]
        needs: list[str] = []
        found = [(key, ref) for key, value in raw.items() for ref in references(value)]
        for key, (text, target, rest) in found:
            line = pipeline.line_of("steps", index, key)
            if target not in steps:
                known = ", ".join(steps)
                raise PipelineError(
                    f"step {step.id}: '{text}' names no step; steps: {known}", line=line
                )
            if target == step.id:
                raise PipelineError(f"step {step.id}: '{text}' refers to itself", line=line)
            if not rest or rest[0] not in outputs_of(steps[target]):
                made = ", ".join(sorted(outputs_of(steps[target])))
                raise PipelineError(
                    f"step {step.id}: '{text}': a {steps[target].kind} step has no such "
                    f"output; its outputs: {made}",
                    line=line,
                )
            needs.append(target)
        for target in step.needs:
            if target not in steps or target == step.id:
                raise PipelineError(
                    f"step {step.id}: needs {target!r}, which is not another step",
                    line=pipeline.line_of("steps", index, "needs"),
                )
            needs.append(target)
        graph[step.id] = list(dict.fromkeys(needs))
    return graph


def order(graph: dict[str, list[str]]) -> list[str]:
    """The ids in an order where every step comes after what it needs (file order first).

    Raises
    ------
    PipelineError
        The steps need each other in a cycle (the message names it).
    """
    done: list[str] = []
    placed: set[str] = set()
    pending = list(graph)
    while pending:
        ready = next((s for s in pending if all(n in placed for n in graph[s])), None)
        if ready is None:
            raise PipelineError(f"the steps need each other in a cycle: {_cycle(graph, pending)}")
        done.append(ready)
        placed.add(ready)
        pending.remove(ready)
    return done


def _cycle(graph: dict[str, list[str]], pending: list[str]) -> str:
    node, seen = pending[0], []
    while node not in seen:
        seen.append(node)
        node = next(n for n in graph[node] if n in pending)
    loop = [*seen[seen.index(node) :], node]
    return " → ".join(loop)


def downstream(graph: dict[str, list[str]], start: str) -> set[str]:
    """``start`` and every step that needs it, directly or not."""
    found = {start}
    changed = True
    while changed:
        changed = False
        for step, needs in graph.items():
            if step not in found and found & set(needs):
                found.add(step)
                changed = True
    return found


def levels(graph: dict[str, list[str]]) -> dict[str, int]:
    """Each step's depth in the graph (0: needs nothing), for drawing it."""
    depth: dict[str, int] = {}
    for step in order(graph):
        depth[step] = 1 + max((depth[n] for n in graph[step]), default=-1)
    return depth


def check_graph(pipeline: Pipeline) -> list[str]:
    """Check references, ids, expressions and the schedule; the run order.

    Raises
    ------
    PipelineError
        Two steps with one id, a reference to no step or no output, a cycle, an
        expression that does not parse, or a schedule that is not cron.
    """
    seen: dict[str, int] = {}
    for index, step in enumerate(pipeline.spec.steps):
        if step.id in seen:
            raise PipelineError(
                f"two steps are called {step.id!r}", line=pipeline.line_of("steps", index, "id")
            )
        seen[step.id] = index
        for key in EXPRESSION_FIELDS:
            text = getattr(step, "if_" if key == "if" else key, None)
            if isinstance(text, str) and not references(text):
                try:
                    expr.parse(text)
                except expr.ExpressionError as exc:
                    raise PipelineError(
                        f"step {step.id}: {key}: {exc.message}",
                        line=pipeline.line_of("steps", index, key),
                    ) from None
    schedule = pipeline.spec.schedule
    if schedule is not None:
        from croniter import croniter

        if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
            raise PipelineError(
                f"schedule {schedule!r} is not a cron expression of 5 fields "
                "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'",
                line=pipeline.line_of("schedule"),
            )
    return order(dependencies(pipeline))


def resolve(value: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    """``value`` with every step reference replaced by that step's output.

    A string that is one reference becomes the output itself (a number stays a number);
    a reference inside a longer string is formatted into it.
    """
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def lookup(path: str) -> Any:
        parts = path.split(".")
        found: Any = outputs.get(parts[1], {})
        for part in parts[2:]:
            if not isinstance(found, dict) or part not in found:
                raise PipelineError(f"'${{{path}}}' has no value: step {parts[1]} did not make it")
            found = found[part]
        return found

    whole = REF.fullmatch(value.strip())
    if whole and whole.group(1).startswith("steps."):
        return lookup(whole.group(1))
    return REF.sub(lambda m: str(lookup(m.group(1))), value)
