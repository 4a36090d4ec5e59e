"""``eft-marginal``: EFT that charges an LLM call the delay its prefill adds to the workflows' other calls on an engine
(docs/design.md §11).

On a continuous-batching engine (:mod:`scale_rllib.sim.llm_engine`) a call's uncached prefill of P tokens runs in
chunks inside the batch's iterations, and each chunk lengthens its iteration by c_p per token for every request in
the batch: each request decoding there while the prefill runs finishes c_p · P later. Cache- and batch-aware EFT
minimises the call's own finish time only. ``eft-marginal`` adds that delay for every call of the workflows the
router has on the engine (its outstanding requests, which a router observes as sent minus answered):

    score(s) = EFT(s) + c_p(s) · P(s) · outstanding(s)          (seconds; the lowest score wins, ties by index)

with P(s) the call's context + prompt tokens less its prefix cached on s (``ServingSimulator.prefill_cost_s``). It
is the greedy step of minimising the workflows' total response time rather than each call's own — marginal-cost
(social) routing as opposed to selfish routing (Roughgarden & Tardos, "How bad is selfish routing?", J. ACM 49(2),
2002). Other clients' requests (background traffic) are not counted: the router neither sends nor sees them, and the
objective is the workflows' response time. Tasks other than LLM calls on engines, and every task of a simulator
without engines, go where EFT puts them.
"""

from __future__ import annotations

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.serving import ServingSimulator
from scale_rllib.sim.simulator import Simulator


class MarginalEFTScheduler(Scheduler):
    """EFT plus the prefill delay the call adds to the workflows' calls on each engine (see the module docstring)."""

    name = "eft-marginal"

    def select(self, observation, sim: Simulator) -> int:
        finish = sim.earliest_finish_times_s()
        if isinstance(sim, ServingSimulator):
            finish = finish + sim.prefill_cost_s() * sim.outstanding
        return int(np.argmin(finish))


MARGINAL_HEURISTICS = {MarginalEFTScheduler.name: MarginalEFTScheduler}
