"""Train the soft prompt and hint module of a :class:`QPEFTModel` (the LM stays frozen).

Loss per step (DESIGN.md): ``mean(relu(NLL(q|d+) - NLL(q|d-) + margin)) + mean(NLL(q|d+))`` over BM25 hard
negatives and in-batch negatives. It decomposes over queries, so each query's pairs run forward and
backward on their own (bounded memory) and the gradients add up to the full-batch gradient. Each
step's sample comes from an RNG seeded by (seed, epoch, step), so an interrupted run resumes exactly.

Under ``torchrun`` training is data-parallel over the trainable parts only: every rank draws the same
global batch (``batch_size`` per rank x ranks), runs its share of the batch's queries through the frozen LM,
and the trainable gradients are summed over the ranks before each optimizer step, so a step sees what one
process with the global batch would. Dev loss is sharded and summed; rank 0 alone writes checkpoints and state.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.checkpoint import load_checkpoint
from pyserini_qpeft.model.config import TrainingConfig
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import collate, length_batches
from pyserini_qpeft.model.variants import trainable_variants
from pyserini_qpeft.runs import distributed
from pyserini_qpeft.training import state as saved_state
from pyserini_qpeft.training.data import StepPairs, TrainingQuery, fixed_dev_pairs, sample_step
from pyserini_qpeft.training.optimizer_state import load_optimizer_state
from pyserini_qpeft.training.state import OPTIMIZER_FILE, STATE_FILE, state_dir

__all__ = ["OPTIMIZER_FILE", "STATE_FILE", "Trainer", "TrainingConfig", "state_dir"]

logger = logging.getLogger(__name__)

RENAMED = {"qd_lr": "hint_lr"}  # settings saved by earlier versions under other names
# QPEFTConfig fields that do not change what is trained (recorded on save, or the checkpoint's fusion weight).
NOT_TRAINING = ("fusion_weight", "base_fingerprint", "tokenizer_fingerprint", "files", "format_version")


def pairwise_loss(log_likelihoods: torch.Tensor, margin: float) -> tuple:
    """(sum of hinge terms, NLL of the positive, number of hinge terms) for one query's pairs (index 0 positive)."""
    nll = -log_likelihoods
    hinge = torch.relu(nll[0] - nll[1:] + margin)
    return hinge.sum(), nll[0], hinge.numel()


class Trainer:
    """Runs epochs over training queries with dev-loss early stopping; the best model by dev loss is kept in
    ``<output>.train-state/best`` (:mod:`pyserini_qpeft.training.state`) until the caller publishes it.

    ``settings`` (name -> value: how the queries were chosen, say) are saved with the state, and a resume under
    other values is refused naming them, as it is for other training settings, model settings or data.
    """

    def __init__(
        self,
        model: QPEFTModel,
        config: TrainingConfig,
        train: Sequence[TrainingQuery],
        dev: Sequence[TrainingQuery],
        qrels: dict[str, dict[str, int]],
        doc_text: Callable[[str], str],
        output: str | os.PathLike,
        token_budget: int = 4096,
        world: distributed.World | None = None,
        settings: dict[str, Any] | None = None,
    ):
        if not model.trainable_parameters():
            raise InputError(
                f"variant {model.config.variant!r} has nothing to train; "
                f"use --variant {', '.join(trainable_variants())}"
            )
        self.model = model
        self.config = config
        self.train = list(train)
        self.dev = list(dev)
        self.qrels = qrels
        self.doc_text = doc_text
        self.output = Path(output)
        self.state_dir = state_dir(self.output)
        self.settings = dict(settings or {})
        self.token_budget = token_budget
        self.world = world or distributed.world_from_env()
        groups = [
            {
                "params": [p for n, p in model.trainable_parameters().items() if n.startswith("prompt.")],
                "lr": config.lr,
            },
            {
                "params": [p for n, p in model.trainable_parameters().items() if n.startswith("hint_module.")],
                "lr": config.hint_lr,
            },
        ]
        self.optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=config.weight_decay)
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "best_dev": None, "bad_epochs": 0, "history": []}
        if self.world.distributed:
            self._broadcast_parameters()

    @property
    def global_batch(self) -> int:
        """Queries per micro-batch over all ranks: ``batch_size`` per rank times the number of ranks."""
        return self.config.batch_size * self.world.size

    @property
    def steps_per_epoch(self) -> int:
        micro = math.ceil(len(self.train) / self.global_batch)
        return math.ceil(micro / self.config.grad_accum)

    # -- one query's pairs -------------------------------------------------------------------------
    def _log_likelihoods(self, pairs: StepPairs) -> torch.Tensor:
        texts = [self.doc_text(d) for d in pairs.docids]
        encoded = self.model.prepare([pairs.query.text] * len(texts), texts)
        values = torch.empty(len(encoded), device=self.model.device)
        parts = []
        for batch in length_batches(encoded, len(encoded), self.token_budget):
            padded = collate(batch, self.model.encoder.pad_id, self.model.device)
            parts.append((padded.indices, self.model.log_likelihood(padded)))
        order = torch.tensor([i for indices, _ in parts for i in indices], device=values.device)
        return torch.cat([v for _, v in parts])[torch.argsort(order)]

    def _micro_batch(self, batch: Sequence[TrainingQuery], rng: random.Random, scale: float) -> float:
        steps = [
            s
            for s in sample_step(batch, self.qrels, self.config.negatives, self.config.in_batch, rng)
            if len(s.docids) > 1
        ]
        if not steps:
            return 0.0
        counts = [len(s.docids) - 1 for s in steps]
        total_hinge, total = sum(counts), 0.0
        for index in distributed.share(range(len(steps)), cost=lambda i: len(steps[i].docids), world=self.world):
            pairs = steps[index]
            hinge, positive_nll, _ = pairwise_loss(self._log_likelihoods(pairs), self.config.margin)
            loss = (hinge / total_hinge + positive_nll / len(steps)) * scale
            loss.backward()
            total += float(loss.detach()) / scale
        return total  # this rank's part of the loss

    # -- across ranks ------------------------------------------------------------------------------
    def _broadcast_parameters(self) -> None:
        """Start every rank from rank 0's trainable weights."""
        import torch.distributed as dist

        with torch.no_grad():
            for value in self.model.trainable_parameters().values():
                dist.broadcast(value.data, src=0)

    def _sum_gradients(self) -> None:
        """Sum the trainable gradients over the ranks in one message (a parameter no rank touched keeps None)."""
        import torch.distributed as dist

        params = list(self.model.trainable_parameters().values())
        parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in params]
        touched = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=parts[0].device)
        flat = torch.cat([*parts, touched])
        dist.all_reduce(flat)
        offset = 0
        for p, part, seen in zip(params, parts, flat[-len(params) :].tolist()):
            grad = flat[offset : offset + part.numel()].view_as(p)
            offset += part.numel()
            p.grad = grad.to(dtype=p.dtype, copy=True) if seen else None

    def dev_loss(self) -> float:
        """The training loss on fixed dev pairs (no sampling, no gradients)."""
        pairs = fixed_dev_pairs(self.dev, self.config.dev_negatives)
        if not pairs:
            raise InputError("no dev query has BM25 negatives; raise the negative depth or use more dev queries")
        hinge_sum, nll_sum, count = 0.0, 0.0, 0
        mine = distributed.share(range(len(pairs)), cost=lambda i: len(pairs[i].docids), world=self.world)
        with torch.no_grad():
            for index in mine:
                hinge, nll, n = pairwise_loss(self._log_likelihoods(pairs[index]), self.config.margin)
                hinge_sum, nll_sum, count = hinge_sum + float(hinge), nll_sum + float(nll), count + n
        hinge_sum, nll_sum, count = distributed.all_reduce_sum([hinge_sum, nll_sum, count], self.world)
        return hinge_sum / max(count, 1) + nll_sum / len(pairs)

    # -- saving and resuming -----------------------------------------------------------------------
    @property
    def best_dir(self) -> Path:
        """Where the best model by dev loss is kept while training: ``<output>.train-state/best``."""
        return self.state_dir / saved_state.BEST

    def _saved_settings(self) -> dict[str, Any]:
        """Everything that decides what is trained, as saved with the state and compared on resume."""
        model = {k: v for k, v in self.model.config.model_dump().items() if k not in NOT_TRAINING}
        # The global batch decides the training, not how it is split over ranks.
        training = {**self.config.model_dump(), "batch_size": self.global_batch}
        return {"training_config": training, "model_config": model, "settings": self.settings, "data": self._data}

    @functools.cached_property
    def _data(self) -> str:
        """A digest of the training and dev queries (texts, positives, negatives) and their judgments."""
        rows = [
            [part, q.qid, q.text, list(q.positives), list(q.negatives), self.qrels.get(q.qid, {})]
            for part, queries in (("train", self.train), ("dev", self.dev))
            for q in queries
        ]
        return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]

    def _save_best(self) -> None:
        if self.world.is_main:
            saved_state.save_best(self.state_dir, self.model)

    def save_state(self) -> None:
        """Write the latest weights, optimizer and counters to ``<output>.train-state`` (atomically; rank 0)."""
        if self.world.is_main:
            saved_state.save_state(self.state_dir, self.model, self.optimizer, {**self.state, **self._saved_settings()})

    def _differences(self, saved: dict[str, Any]) -> list[str]:
        now = self._saved_settings()
        found = []
        for section in ("training_config", "model_config", "settings"):
            before = {RENAMED.get(k, k): v for k, v in saved.get(section, {}).items()}
            if section != "training_config" and section not in saved:
                continue  # a state saved before this section was recorded
            for key in sorted(set(before) | set(now[section])):
                if before.get(key) != now[section].get(key):
                    found.append(f"{key} (saved {before.get(key)!r}, now {now[section].get(key)!r})")
        if not found and saved.get("data", now["data"]) != now["data"]:
            found.append("the training or dev queries, their judgments or BM25 negatives")
        return found

    def resume(self) -> bool:
        """Load the saved state if there is one; True when resumed. A state saved under other settings is refused."""
        state_path = self.state_dir / STATE_FILE
        found = state_path.is_file()
        if distributed.broadcast(found, self.world) != found:
            raise InputError(
                f"{state_path}: rank 0 and {self.world} disagree on whether it exists; under torchrun the "
                "checkpoint and its training state must lie on a filesystem every node sees"
            )
        if not found:
            return False
        saved = saved_state.read_state(self.state_dir)
        differences = self._differences(saved)
        if differences:
            raise InputError(
                f"{state_path}: saved with different training settings: {'; '.join(differences)} (the global batch "
                "is the batch size times the number of processes); use the same settings, or start over"
            )
        weights = saved_state.weights_folder(self.state_dir, saved)
        restored = load_checkpoint(weights / saved_state.LAST, self.model.lm, self.model.tokenizer)
        with torch.no_grad():
            mine = self.model.trainable_parameters()
            for name, value in restored.trainable_parameters().items():
                mine[name].copy_(value)
        load_optimizer_state(self.optimizer, weights / OPTIMIZER_FILE)
        sections = ("training_config", "model_config", "settings", "data", "generation")
        self.state = {k: v for k, v in saved.items() if k not in sections}
        logger.info("resumed at epoch %d, step %d", self.state["epoch"], self.state["step"])
        return True

    # -- the loop ----------------------------------------------------------------------------------
    def fit(self, on_step: Callable[[int, float], Any] | None = None) -> dict[str, Any]:
        """Train until ``epochs`` or early stopping; the best model by dev loss ends up in ``output``.

        ``on_step(step, running_loss)`` is called after each optimizer step. Returns the trainer state.
        """
        config = self.config
        clock = time.monotonic()

        def tick() -> None:  # wall seconds spent in fit(), summed over resumed runs (lost: since the last save)
            nonlocal clock
            now = time.monotonic()
            self.state["train_seconds"] = self.state.get("train_seconds", 0.0) + now - clock
            clock = now

        if self.state["best_dev"] is None:
            initial = self.dev_loss()
            self.state["best_dev"] = initial
            self.state["history"].append({"epoch": 0, "dev_loss": initial})
            self._save_best()
            logger.info("dev loss before training: %.4f", initial)
        running = self.state.get("running_loss")  # saved with the state, so a resumed run logs the same losses
        while self.state["epoch"] < config.epochs and self.state["bad_epochs"] < config.patience:
            epoch = self.state["epoch"]
            order = list(self.train)
            random.Random(f"{config.seed}:order:{epoch}").shuffle(order)
            size = self.global_batch
            micro = [order[i : i + size] for i in range(0, len(order), size)]
            steps = [micro[i : i + config.grad_accum] for i in range(0, len(micro), config.grad_accum)]
            self.model.train()
            for step in range(self.state["step"], len(steps)):
                rng = random.Random(f"{config.seed}:step:{epoch}:{step}")
                self.optimizer.zero_grad(set_to_none=True)
                loss = sum(self._micro_batch(b, rng, 1.0 / len(steps[step])) for b in steps[step]) / len(steps[step])
                if self.world.distributed:
                    self._sum_gradients()
                    loss = distributed.all_reduce_sum([loss], self.world)[0]
                self.optimizer.step()
                running = loss if running is None else 0.9 * running + 0.1 * loss
                self.state["step"], self.state["running_loss"] = step + 1, running
                if on_step:
                    on_step(step + 1, running)
                if (step + 1) % config.save_every == 0:
                    tick()
                    self.save_state()
            self.model.eval()
            dev = self.dev_loss()
            improved = dev < self.state["best_dev"]
            tick()
            self.state["history"].append(
                {
                    "epoch": epoch + 1,
                    "dev_loss": dev,
                    "train_loss": running,
                    "train_seconds": self.state["train_seconds"],
                }
            )
            logger.info("epoch %d: dev loss %.4f (best %.4f)", epoch + 1, dev, min(dev, self.state["best_dev"]))
            if improved:
                self.state["best_dev"], self.state["bad_epochs"] = dev, 0
                self._save_best()
            else:
                self.state["bad_epochs"] += 1
            self.state["epoch"], self.state["step"] = epoch + 1, 0
            self.save_state()
        tick()
        distributed.barrier(self.world)  # rank 0's files are complete before anyone reads them
        return self.state
