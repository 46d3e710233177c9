"""Scenarios: TOML files that describe whole networks, run in-process or as real processes.

- :mod:`.format`: the file format and :func:`load` (every problem, raised once);
- :mod:`.plan`: groups, generated links and selectors expanded;
- :mod:`.runner` with :mod:`.runner_inproc` and :mod:`.runner_procs`: the run;
- :mod:`.faults`: the one adapter for partitions, loss and delay;
- :mod:`.expect`: expectations judged over the recorded samples (pure);
- :mod:`.report`: summary table, JSON and plot.

See docs/scenarios.md.
"""

from .format import Scenario, load, loads
from .plan import Plan, make_plan
from .problems import Problem, ScenarioError
from .runner import Result
from .session import Mode, run_plan

__all__ = ["Mode", "Plan", "Problem", "Result", "Scenario", "ScenarioError", "load", "loads", "make_plan", "run_plan"]
