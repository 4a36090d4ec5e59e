"""An LLM serving replica as a continuous-batching engine with a prefix (KV) cache — iteration-level, event-skipping.

Real engines (Orca's iteration-level scheduling, OSDI 2022; vLLM, SOSP 2023; Sarathi-Serve's chunked prefill,
OSDI 2024) run one batch: each *iteration* decodes one token for every running request past its prefill and
processes up to ``chunk_tokens`` prompt tokens of requests still in prefill (in admission order); it takes

    t(b, p) = t0 + c_d · b + c_p · p  seconds        (b decoding requests, p prefill tokens in the iteration),

t0 for reading the weights once, c_d per decoding request (its KV reads), c_p per prefill token (compute);
:meth:`EngineProfile.roofline` derives the three from a GPU's datasheet and a model's size. The prefill iteration
that finishes a prompt also emits its first token (time to first token, TTFT); the remaining ``output_tokens − 1``
come one per iteration. A request's KV cache is reserved at admission for its whole sequence (context + prompt +
output, as Orca does; vLLM's paged allocation grows it lazily and may preempt — not modelled), so the batch is capped
by ``kv_tokens`` (and at ``max_seqs`` requests, vLLM's ``max_num_seqs``). Waiting requests are admitted at
iteration boundaries in the order of the queue policy (``fcfs``;
``plas``: program-level least attained service, Autellix, arXiv:2502.13965; ``shortest``: oracle shortest output
first; ``predicted``: ascending ``Request.rank``, e.g. a learned ranker's score, Fu et al., NeurIPS 2024); the queue's
head blocks those behind it when it does not fit (head-of-line, as vLLM's FCFS scheduler).

Prefix cache (vLLM automatic prefix caching; SGLang's RadixAttention, Zheng et al., 2024): per program (workflow),
the engine keeps the KV of its last finished call's whole sequence, in ``block_tokens`` blocks, as long as memory
allows; a call of the same program whose context starts with it skips the prefill of the cached blocks. Cached
entries not in use are evicted least recently used first when an admission needs their memory.

Iterations whose composition does not change are not simulated one by one: the engine jumps to the next iteration at
which a prefill ends, a request finishes or a request could be admitted, so its cost is per event, not per token.
An event walks only the requests in prefill; decoding requests wait in a heap keyed by the iteration of their last
token, and the KV totals are kept as requests are admitted, retired and evicted (docs/performance.md).
"""

from __future__ import annotations

import copy
import heapq
import math
from collections import OrderedDict
from collections.abc import KeysView
from dataclasses import dataclass, field

QUEUE_POLICIES = ("fcfs", "plas", "shortest", "predicted")


@dataclass(frozen=True)
class EngineProfile:
    """Speed and memory of one serving replica (seconds, tokens).

    Attributes:
        name: e.g. ``"llama2-70b/4xA100"``.
        t0_s: Fixed cost of an iteration (s).
        decode_s: Extra cost per decoding request in an iteration (s).
        prefill_s: Extra cost per prefill token in an iteration (s).
        chunk_tokens: The most prefill tokens per iteration (Sarathi-Serve's chunk size).
        kv_tokens: KV-cache capacity (tokens) after the weights.
        block_tokens: KV block size (tokens; vLLM's default is 16).
        max_seqs: The most requests in the running batch (vLLM's ``max_num_seqs`` default, 256).

    Raises:
        ValueError: a non-positive value.
    """

    name: str
    t0_s: float
    decode_s: float
    prefill_s: float
    chunk_tokens: int = 512
    kv_tokens: int = 400_000
    block_tokens: int = 16
    max_seqs: int = 256

    def __post_init__(self) -> None:
        for key in ("t0_s", "decode_s", "prefill_s", "chunk_tokens", "kv_tokens", "block_tokens", "max_seqs"):
            if not getattr(self, key) > 0:
                raise ValueError(f"engine profile {self.name!r}: {key} must be > 0, got {getattr(self, key)}")

    @property
    def chunked_prefill_s(self) -> float:
        """Seconds per prefill token when every iteration is a full chunk of one prompt: c_p + t₀ / chunk (each
        iteration of ``chunk_tokens`` prompt tokens also pays t₀)."""
        return self.prefill_s + self.t0_s / self.chunk_tokens

    @classmethod
    def roofline(
        cls, name: str, *, params: float, kv_bytes_per_token: float, gpus: int, tflops: float, tb_per_s: float,
        gpu_memory_gb: float, mean_context_tokens: float = 2048, mfu: float = 0.5, mbu: float = 0.7,
        memory_utilization: float = 0.9, chunk_tokens: int = 512,
    ) -> EngineProfile:  # fmt: skip
        """A profile from the roofline of a tensor-parallel replica (Pope et al., "Efficiently Scaling Transformer
        Inference", MLSys 2023): reading the bf16 weights (2 bytes per parameter) bounds t0, reading a request's KV
        (``mean_context_tokens`` × ``kv_bytes_per_token``) bounds c_d, and 2 FLOPs per parameter per token bound c_p,
        at fractions ``mbu`` of memory bandwidth and ``mfu`` of peak FLOPS; KV capacity is what
        ``memory_utilization`` (vLLM's ``gpu_memory_utilization`` default 0.9) of the GPUs' memory leaves after the
        weights.

        Args:
            params: Model parameters.
            kv_bytes_per_token: KV bytes per token (layers × KV heads × head dim × 2 (K, V) × 2 bytes).
            gpus: GPUs of the replica (tensor parallel).
            tflops: Dense bf16 peak per GPU (10¹² FLOP/s), from its datasheet.
            tb_per_s: Memory bandwidth per GPU (10¹² bytes/s), from its datasheet.
            gpu_memory_gb: Memory per GPU (10⁹ bytes).

        Raises:
            ValueError: the weights do not fit.
        """
        bandwidth, flops = gpus * tb_per_s * 1e12 * mbu, gpus * tflops * 1e12 * mfu
        weights = 2.0 * params
        free = gpus * gpu_memory_gb * 1e9 * memory_utilization - weights
        if free <= 0:
            raise ValueError(f"{name}: {weights / 1e9:.0f} GB of weights do not fit in {gpus} × {gpu_memory_gb} GB")
        return cls(name, t0_s=weights / bandwidth, decode_s=mean_context_tokens * kv_bytes_per_token / bandwidth,
                   prefill_s=2.0 * params / flops, chunk_tokens=chunk_tokens,
                   kv_tokens=int(free / kv_bytes_per_token))  # fmt: skip


@dataclass
class Request:
    """One LLM call.

    Attributes:
        key: Caller's id, returned on completion.
        program: The program (workflow) it belongs to: its prefix-cache key and PLAS's unit.
        context_tokens: Tokens of the program's context it starts with (earlier prompts and outputs).
        prompt_tokens: New prompt tokens after the context (≥ 1).
        output_tokens: Tokens it generates (≥ 1).
        rank: Order key of the ``predicted`` policy (lower: sooner).
    """

    key: int
    program: int
    context_tokens: int
    prompt_tokens: int
    output_tokens: int
    rank: float = 0.0
    submit_s: float = 0.0
    prefill_left: int = 0
    decode_end: int = 0  # the engine iteration that emits its last token (set when its prefill ends)
    seq: int = 0  # admission order on its engine
    reserved: int = 0
    cached: int = 0
    start_s: float = math.nan
    first_token_s: float = math.nan


@dataclass
class Completion:
    """A finished request: when, and its time to first token (TTFT) and mean time between tokens (TBT), seconds."""

    key: int
    finish_s: float
    ttft_s: float
    tbt_s: float
    cached_tokens: int


@dataclass
class LLMEngine:
    """One replica (see the module docstring). Time moves only through :meth:`advance` and :meth:`submit`.

    Args:
        profile: Its speed and memory.
        policy: One of :data:`QUEUE_POLICIES`.

    Raises:
        ValueError: an unknown policy.
    """

    profile: EngineProfile
    policy: str = "fcfs"
    now_s: float = 0.0
    waiting: list[Request] = field(default_factory=list)
    running: list[Request] = field(default_factory=list)
    cache: OrderedDict = field(default_factory=OrderedDict)  # program → cached tokens, least recently used first
    attained_s: dict = field(default_factory=dict)  # program → engine time its finished calls spent (PLAS)
    _plan: tuple = ()  # (iteration time, iterations) of the current stretch of identical iterations
    _reserved: int = 0  # KV tokens reserved by the running requests: sum(r.reserved for r in running)
    _cached: int = 0  # KV tokens of the prefix cache: sum(cache.values())
    _running_programs: dict = field(default_factory=dict)  # program → its requests in the batch (pins its cache)
    _pinned: int = 0  # KV tokens of the cached prefixes of those programs: sum(cache.get(p, 0) for p in them)
    _iteration: int = 0  # iterations run so far
    _admitted: int = 0  # requests admitted so far
    _prefilling: list = field(default_factory=list)  # running requests in prefill, in admission order
    _decoding: list = field(default_factory=list)  # heap of (decode_end, seq, request) of the others

    def __post_init__(self) -> None:
        if self.policy not in QUEUE_POLICIES:
            raise ValueError(f"queue policy must be one of {', '.join(QUEUE_POLICIES)}, got {self.policy!r}")

    def __deepcopy__(self, memo: dict) -> LLMEngine:
        """An independent twin for lookahead (forks, :meth:`projected_finish_s`): its requests are copies, its cache and
        counters new containers; the profile (frozen) is shared. ``copy.deepcopy``'s generic walk copied every cache
        entry and request field one by one."""
        twin = copy.copy(self)
        twins = {id(r): copy.copy(r) for r in (*self.running, *self.waiting)}
        twin.running = [twins[id(r)] for r in self.running]
        twin.waiting = [twins[id(r)] for r in self.waiting]
        twin._prefilling = [twins[id(r)] for r in self._prefilling]
        twin._decoding = [(end, seq, twins[id(r)]) for end, seq, r in self._decoding]  # a heap stays a heap
        if self._plan:
            tau, k, alloc = self._plan
            twin._plan = (tau, k, [(twins[id(r)], take) for r, take in alloc])
        twin.cache, twin.attained_s = OrderedDict(self.cache), dict(self.attained_s)
        twin._running_programs = dict(self._running_programs)
        memo[id(self)] = twin
        return twin

    # ------------------------------------------------------------------ memory
    def _used_tokens(self) -> int:
        return self._reserved + self._cached

    def reserved_tokens(self) -> int:
        """KV tokens reserved by the running requests (each for its whole sequence less its cache hit)."""
        return self._reserved

    def cache_size_tokens(self) -> int:
        """KV tokens held by the prefix cache, every program together."""
        return self._cached

    def running_programs(self) -> KeysView:
        """The programs with a request in the batch (a set-like view): their cached prefixes cannot be evicted."""
        return self._running_programs.keys()

    def evictable_tokens(self, keep: int | None = None) -> int:
        """KV tokens of the cached prefixes an admission may evict: those of programs with no request in the batch,
        other than ``keep`` (the admitted request's own program)."""
        own = 0 if keep in self._running_programs else self.cache.get(keep, 0)
        return self._cached - self._pinned - own

    def kv_utilization(self) -> float:
        """Fraction of KV capacity reserved by running requests and cached prefixes."""
        return self._used_tokens() / self.profile.kv_tokens

    def cached_tokens(self, program: int) -> int:
        """KV tokens of ``program`` cached on this replica."""
        return self.cache.get(program, 0)

    def _fits(self, request: Request) -> bool:
        """Admit ``request`` if the batch has room (``max_seqs``) and its memory fits after evicting unpinned cache
        entries (LRU); False: nothing changed."""
        if len(self.running) >= self.profile.max_seqs:
            return False
        hit = min(self.cache.get(request.program, 0), request.context_tokens)
        hit -= hit % self.profile.block_tokens
        need = request.context_tokens + request.prompt_tokens + request.output_tokens - hit
        free = self.profile.kv_tokens - self._used_tokens()
        if need > free:  # evict unpinned entries, least recently used first, if that frees enough
            if need > free + self.evictable_tokens(request.program):
                return False
            victims = []  # the fewest least recently used unpinned entries that free enough
            for p, tokens in self.cache.items():
                if need <= free:
                    break
                if p not in self._running_programs and p != request.program:
                    victims.append(p)
                    free += tokens
            for p in victims:
                self._cached -= self.cache.pop(p)
        request.cached, request.reserved = hit, need
        self._reserved += need
        request.prefill_left = request.context_tokens + request.prompt_tokens - hit
        if request.program in self.cache:
            self.cache.move_to_end(request.program)
        return True

    # ------------------------------------------------------------------ queue
    def _order(self, r: Request) -> tuple:
        if self.policy == "plas":
            return (self.attained_s.get(r.program, 0.0), r.submit_s)
        if self.policy == "shortest":
            return (r.output_tokens, r.submit_s)
        if self.policy == "predicted":
            return (r.rank, r.submit_s)
        return (r.submit_s,)

    def _admit(self) -> None:
        self.waiting.sort(key=self._order)
        while self.waiting and self._fits(self.waiting[0]):
            request = self.waiting.pop(0)
            request.start_s, request.seq = self.now_s, self._admitted
            self._admitted += 1
            self.running.append(request)
            self._prefilling.append(request)
            count = self._running_programs.get(request.program, 0)
            self._running_programs[request.program] = count + 1
            if not count:
                self._pinned += self.cache.get(request.program, 0)
        self._plan = ()

    def submit(self, request: Request, now_s: float) -> list[Completion]:
        """Queue ``request`` at ``now_s`` (the engine first advances there); returns what finished on the way.

        Raises:
            ValueError: a request that can never fit in KV memory, or non-positive prompt / output tokens.
        """
        if request.prompt_tokens < 1 or request.output_tokens < 1:
            raise ValueError(f"request {request.key}: prompt and output need ≥ 1 token")
        total = request.context_tokens + request.prompt_tokens + request.output_tokens
        if total > self.profile.kv_tokens:
            raise ValueError(f"request {request.key}: {total} tokens exceed the KV capacity {self.profile.kv_tokens}")
        done = self.advance(now_s)
        request.submit_s = now_s
        self.waiting.append(request)
        if not self.running or self.now_s == now_s:  # idle, or exactly at an iteration boundary: join now
            self.now_s = now_s
            self._admit()
        elif self._plan:  # mid-iteration: the batch is reconsidered when the iteration in progress ends
            tau, _, alloc = self._plan
            self._plan = (tau, 1, alloc)
        return done

    def projected_finish_s(self, request: Request, now_s: float) -> float:
        """When ``request`` would finish if submitted at ``now_s`` and nothing else arrived (seconds): the EFT of a
        cache- and batch-aware router. The engine is not changed."""
        twin = copy.deepcopy(self)
        probe = copy.copy(request)
        twin.submit(probe, now_s)
        while True:
            for c in twin.advance(twin.next_event_s()):
                if c.key == probe.key:
                    return c.finish_s

    # ------------------------------------------------------------------ iterations
    def decode_left(self, request: Request) -> int:
        """Iterations until a running ``request`` emits its last token, counted after its prefill."""
        return request.output_tokens - 1 if request.prefill_left else request.decode_end - self._iteration

    def _stretch(self) -> tuple[float, int, list[tuple[Request, int]]]:
        """The next run of identical iterations: (iteration time, how many, prefill tokens per request)."""
        prof = self.profile
        budget, alloc = prof.chunk_tokens, []
        for r in self._prefilling:
            if not budget:
                break
            take = min(r.prefill_left, budget)
            alloc.append((r, take))
            budget -= take
        tau = prof.t0_s + prof.decode_s * len(self._decoding) + prof.prefill_s * (prof.chunk_tokens - budget)
        k = self._decoding[0][0] - self._iteration if self._decoding else math.inf
        if len(alloc) == 1 and alloc[0][1] == prof.chunk_tokens:  # one prompt fills the chunk: repeat until < chunk
            k = min(k, alloc[0][0].prefill_left // prof.chunk_tokens)
        elif alloc:
            k = 1
        return tau, max(int(k), 1), alloc

    def _progress(self, iterations: int) -> None:
        """Run ``iterations`` iterations of the current stretch (no boundary inside it changes the batch)."""
        tau, _, alloc = self._plan
        for r, take in alloc:
            r.prefill_left -= take * iterations
        self._iteration += iterations
        self.now_s += iterations * tau

    def _boundary(self) -> list[Completion]:
        """At an iteration boundary: record first tokens, retire finished requests into the prefix cache (in
        admission order)."""
        finished, ended = [], 0
        for r in self._prefilling:  # prefills end in admission order: the ended ones lead the list
            if r.prefill_left:
                break
            ended += 1
            r.first_token_s = self.now_s
            if r.output_tokens == 1:
                finished.append(r)
            else:
                r.decode_end = self._iteration + r.output_tokens - 1
                heapq.heappush(self._decoding, (r.decode_end, r.seq, r))
        del self._prefilling[:ended]
        while self._decoding and self._decoding[0][0] == self._iteration:
            finished.append(heapq.heappop(self._decoding)[2])
        if not finished:
            return []
        finished.sort(key=lambda r: r.seq)
        gone = {id(r) for r in finished}
        self.running = [r for r in self.running if id(r) not in gone]
        return [self._retire(r) for r in finished]

    def _retire(self, r: Request) -> Completion:
        """Release ``r``'s reservation, keep its sequence in the prefix cache, count its service (PLAS)."""
        tokens = r.context_tokens + r.prompt_tokens + r.output_tokens
        tokens -= tokens % self.profile.block_tokens
        before = self.cache.get(r.program, 0)
        self.cache[r.program] = max(before, tokens)  # the longest prefix of the program
        self.cache.move_to_end(r.program)
        self._cached += self.cache[r.program] - before
        self._pinned += self.cache[r.program] - before  # r's program is in the batch until r leaves it
        self._reserved -= r.reserved
        if self._running_programs[r.program] == 1:
            del self._running_programs[r.program]
            self._pinned -= self.cache[r.program]
        else:
            self._running_programs[r.program] -= 1
        self.attained_s[r.program] = self.attained_s.get(r.program, 0.0) + self.now_s - r.start_s
        decode_s = (self.now_s - r.first_token_s) / (r.output_tokens - 1) if r.output_tokens > 1 else 0.0
        return Completion(r.key, self.now_s, r.first_token_s - r.submit_s, decode_s, r.cached)

    def next_event_s(self) -> float:
        """When the batch next changes (a prefill ends, a request finishes, the queue may move); inf when idle."""
        if not self.running:
            return math.inf
        if not self._plan:
            self._plan = self._stretch()
        tau, k, _ = self._plan
        return self.now_s + k * tau

    def advance(self, t_s: float) -> list[Completion]:
        """Run every iteration that ends by ``t_s``; returns the requests that finished, in order.

        The engine stops at the last iteration boundary ≤ ``t_s`` (or at ``t_s`` when idle); a request submitted
        in the middle of an iteration joins at its end.
        """
        done: list[Completion] = []
        while self.running:
            end = self.next_event_s()
            tau, k, alloc = self._plan
            if end > t_s:
                whole = min(int((t_s - self.now_s) / tau), k - 1)
                if whole > 0:
                    self._progress(whole)
                    self._plan = (tau, k - whole, alloc)
                return done
            self._progress(k)
            done += self._boundary()
            self._admit()
        self.now_s = max(self.now_s, t_s)
        return done


#: Llama-2-70B (Touvron et al., 2023): 80 layers, grouped-query attention with 8 KV heads of dimension 128, bf16.
LLAMA2_70B = {"params": 70e9, "kv_bytes_per_token": 80 * 8 * 128 * 2 * 2}
#: Two GPU generations serving Llama-2-70B on 4 GPUs each, from their datasheets' dense bf16 peak and memory
#: bandwidth (NVIDIA A100 80 GB SXM: 312 TFLOP/s, 2.039 TB/s; H100 80 GB SXM: 989 TFLOP/s, 3.35 TB/s).
ENGINE_PROFILES = {
    "llama2-70b-4xa100": EngineProfile.roofline(
        "llama2-70b-4xa100", **LLAMA2_70B, gpus=4, tflops=312, tb_per_s=2.039, gpu_memory_gb=80
    ),
    "llama2-70b-4xh100": EngineProfile.roofline(
        "llama2-70b-4xh100", **LLAMA2_70B, gpus=4, tflops=989, tb_per_s=3.35, gpu_memory_gb=80
    ),
}
